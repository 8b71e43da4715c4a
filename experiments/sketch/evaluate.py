"""The seed's Experiment 1 from the command line: pick labelled inputs, score the model's outputs."""

from common.errors import DataError
from common.files import display_path
from common.scorer.client import Scorer
from common.strokes import dataset as stroke_data
from common.strokes import formats as S
from experiments.sketch import paper
from experiments.sketch import real_split
from sketch_rnn.client import SketchModel


def select_inputs(sources, scorer_classes, split="test", data_seed=0, per_class=2,
                  max_seq_len=250, total=0):
    """The first sketches of each class in `split`, in raw units, with class names.

    Args:
        sources: labelled stroke files or folders (class = file name).
        scorer_classes: the scorer's class names; other classes are left out (named in notes).
        split: "train", "valid", "test" (the trainers' split with `data_seed`), or "all" (every
            sketch, for inputs no model trained on, e.g. real drawings for models trained on
            a generated corpus).
        per_class: inputs per class.
        total: if > 0, this many inputs spread over the classes instead of per_class (the
            first total % classes get one more).
        max_seq_len: longer sketches are dropped.

    Returns:
        (sketches, class names, notes).
    """
    if per_class < 1 and total < 1:
        raise DataError(f"--per_class={per_class} must be >= 1")
    if split == "all":
        splits = stroke_data.load_every_sketch(sources, max_seq_len, data_seed)
        sketches, labels = splits.train, splits.train_labels
    else:
        splits = stroke_data.load_strokes(sources, max_seq_len=max_seq_len, seed=data_seed)
        sketches, labels = splits.split(split)
    raw = S.denormalize(sketches, splits.scale_factor)
    known = [c for c, name in enumerate(splits.class_names) if name in scorer_classes]
    skipped = [name for name in splits.class_names if name not in scorer_classes]
    quota = {c: per_class for c in known}
    if total > 0 and known:
        quota = real_split.spread(known, total)
    chosen, names = [], []
    for c in known:
        idx = [i for i, lab in enumerate(labels) if lab == c][:quota[c]]
        chosen += [raw[i] for i in idx]
        names += [splits.class_names[c]] * len(idx)
    if not chosen:
        raise DataError(f"no {split} sketches of the scorer's classes in {list(sources)}")
    which = (f"the first {per_class}" if total < 1
             else f"{total} spread over the classes: the first {min(quota.values())}-"
                  f"{max(quota.values())}")
    how = ("every sketch of the files, none of which the models trained on" if split == "all"
           else f"split seed {data_seed}, the trainers' split, so neither model trained on them")
    notes = [f"Inputs: {which} `{split}` sketches of each class ({len(chosen)} from "
             f"{len(set(names))} classes; {how})."]
    if skipped:
        notes.append(f"Left out (unknown to the scorer): {', '.join(skipped)}.")
    return chosen, names, notes

def evaluate(model_path, scorer_path, sources, out, split="test", data_seed=0, per_class=2,
             max_seq_len=250, temperatures=paper.DEFAULT_TEMPERATURES, seed=0, total=0):
    if not sources:
        raise DataError("give the labelled inputs with --data")
    model = SketchModel(model_path)
    scorer = Scorer(scorer_path)
    sketches, names, notes = select_inputs(sources, scorer.class_names, split, data_seed,
                                           per_class, max_seq_len, total)
    result = paper.fidelity(model, scorer, sketches, names, temperatures, seed)
    notes = [f"Sketch RNN: `{display_path(model.path)}`; scorer: `{display_path(scorer.path)}` "
             f"({len(scorer.class_names)} classes)."] + notes
    path = paper.write_fidelity_report(result, out, notes=notes)
    print(f"Wrote {path}: inputs correct {result['inputs_correct']}/{result['n']}, best outputs "
          f"correct {result['outputs_correct']}/{result['n']}, output mean true-class softmax "
          f"{result['table3']['outputs']['mean']:.3f}.")
    return result
