"""Splits real drawings apart for Experiment 1: python -m scripts.split_real_drawings --data=DIR --classes_from=corpus/quickdraw23 --out=corpus/quickdraw23_real."""

from absl import app
from absl import flags

from common import cli
from experiments.sketch import real_split

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("data", None, "Real drawings: .ndjson files or folders (class = file "
                          "name), e.g. the QuickDraw raw and simplified folders.", required=True)
flags.DEFINE_string("classes_from", None, "Keep only the classes of this corpus folder.")
flags.DEFINE_string("out", None, "Output folder: inputs/, train/, test/ and split.json.",
                    required=True)
flags.DEFINE_integer("num_inputs", 60, "Experiment 1 inputs, spread over the classes.")
flags.DEFINE_float("train_fraction", 0.5, "Share of the other drawings for training the scorer.")
flags.DEFINE_integer("seed", 0, "Permutation seed.")
flags.DEFINE_integer("max_seq_len", 250, "Longer drawings are left out.")


def main(argv):
    del argv
    classes = (cli.exit_on_error(real_split.class_names_from, FLAGS.classes_from)
               if FLAGS.classes_from else None)
    info = cli.exit_on_error(real_split.split_real, FLAGS.data, FLAGS.out, classes,
                             FLAGS.num_inputs, FLAGS.train_fraction, FLAGS.seed,
                             FLAGS.max_seq_len)
    c = info["counts"]
    print(f"{len(info['classes'])} classes: {c['inputs']} inputs, {c['train']} scorer-train, "
          f"{c['test']} scorer-test drawings in {FLAGS.out} (none shared).", flush=True)
    if info["classes_without_drawings"]:
        print("No real drawings of: " + ", ".join(info["classes_without_drawings"]), flush=True)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
