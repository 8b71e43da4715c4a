"""Experiment 1 of the seed paper: how well do reconstructions keep their class? report.md/json + grid.

  python -m scripts.evaluate_sketch_rnn --model=SKETCH_WORKDIR --scorer=ALEXNET_WORKDIR \\
      --data=a.ndjson --data=b.ndjson --per_class=2 --out=exp1
"""

from absl import app
from absl import flags

from common import cli
from commands import inputs
from experiments.sketch import evaluate
from experiments.sketch import paper

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "Sketch RNN export folder or workdir.", required=True)
flags.DEFINE_string("scorer", None, "AlexNet scorer export folder or workdir.", required=True)
flags.DEFINE_multi_string("data", [], "Labelled inputs: .npz / .ndjson files or folders (class = "
                          "file name), split as the trainers split them (see --split, --data_seed).")
flags.DEFINE_enum("split", "test", ["train", "valid", "test", "all"], "Which split supplies the "
                  "inputs ('all': every sketch, for files neither model trained on).")
flags.DEFINE_integer("data_seed", 0, "The seed the models' trainers split the data with.")
flags.DEFINE_integer("per_class", 2, "Inputs per class (the first ones of the split).")
flags.DEFINE_integer("num_inputs", 0, "If > 0: this many inputs spread evenly over the classes "
                     "(instead of --per_class; the seed used 60).")
flags.DEFINE_integer("max_seq_len", 250, "Inputs longer than this are dropped.")
flags.DEFINE_list("temperature", [str(t) for t in paper.DEFAULT_TEMPERATURES],
                  "Decoding temperatures.")
flags.DEFINE_integer("seed", 0, "Decoding seed.")
flags.DEFINE_string("out", "experiment1", "Output folder (report.md, report.json, grid.png).")


def main(argv):
    del argv
    cli.quiet_logging()
    temps = cli.exit_on_error(inputs.parse_temperatures, FLAGS.temperature)
    cli.exit_on_error(evaluate.evaluate, FLAGS.model, FLAGS.scorer, FLAGS.data, FLAGS.out, FLAGS.split,
                      FLAGS.data_seed, FLAGS.per_class, FLAGS.max_seq_len, temps, FLAGS.seed,
                      FLAGS.num_inputs)


def run():
    app.run(main)


if __name__ == "__main__":
    run()
