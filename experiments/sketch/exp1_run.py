"""Experiment 1 trained to its end: scorer and Sketch RNN grown in chunks, each measured, until the goal or a flat curve."""

import ctypes
import dataclasses
import json
import pathlib
import signal
import subprocess
import sys

from common.errors import DataError
from common.files import atomic_write
from common.files import atomic_write_text
from common.files import display_path
from common.scorer.evaluate import TEST_METRICS
from common.training import checkpoints
from common.training import layout
from common.training import metrics_plot
from experiments.sketch import evaluate as exp1_evaluate
from experiments.sketch import real_split

RECORD = "curve.json"
RECORD_MD = "curve.md"
RECORD_PNG = "curve.png"


@dataclasses.dataclass(frozen=True)
class Exp1Plan:
    """Everything one Experiment 1 run is made of (recorded; a rerun must match).

    Attributes:
      corpus: the generated training corpus (scripts.make_quickdraw_corpus).
      real: the real-drawing split (scripts.split_real_drawings): inputs/, train/, test/.
      scorer_workdir, model_workdir: the AlexNet and Sketch RNN workdirs.
      scorer_config, model_config: presets; scorer_overrides, model_overrides: "field=value".
      scorer_every, scorer_max_steps: scorer curve points (test accuracy on real/test).
      model_every, model_max_steps: Sketch RNN curve points (Experiment 1 on real/inputs).
      target: outputs correctly classified that end the Sketch RNN curve (the seed's 34).
      patience, min_delta_scorer: a curve is flat when its last `patience` points improve on
        the best before them by less than min_delta_scorer (scorer accuracy) or one output.
      num_inputs: Experiment 1 inputs (all of real/inputs with the split's default).
      real_training: mix real/train into the scorer's batches (else generated drawings only).
    """

    corpus: str
    real: str
    scorer_workdir: str
    model_workdir: str
    scorer_config: str = "default"
    model_config: str = "default"
    scorer_overrides: tuple = ()
    model_overrides: tuple = ()
    scorer_every: int = 1000
    scorer_max_steps: int = 10000
    model_every: int = 2000
    model_max_steps: int = 40000
    target: int = 34
    patience: int = 3
    min_delta_scorer: float = 0.01
    num_inputs: int = 60
    real_training: bool = True

    def check(self):
        for name in ("scorer_every", "scorer_max_steps", "model_every", "model_max_steps",
                     "patience", "num_inputs", "target"):
            if getattr(self, name) < 1:
                raise DataError(f"{name}={getattr(self, name)} must be >= 1")
        for every, most in (("scorer_every", "scorer_max_steps"),
                            ("model_every", "model_max_steps")):
            if getattr(self, every) > getattr(self, most):
                raise DataError(f"{every}={getattr(self, every)} is more than "
                                f"{most}={getattr(self, most)}: no point to train")
        if not pathlib.Path(self.corpus).is_dir():
            raise DataError(f"{self.corpus}: no corpus folder (run scripts.make_quickdraw_corpus)")
        for part in real_split.PARTS:
            if not (pathlib.Path(self.real) / part).is_dir():
                raise DataError(f"{self.real}/{part}: missing (run scripts.split_real_drawings)")
        info_path = pathlib.Path(self.real) / real_split.SPLIT_INFO
        try:
            info = json.loads(info_path.read_text())
            split_classes = set(info["classes"]) | set(info["classes_without_drawings"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise DataError(f"{info_path}: unreadable ({e}); run scripts.split_real_drawings "
                            "again") from None
        corpus_classes = set(real_split.class_names_from(self.corpus))
        if split_classes != corpus_classes:
            odd = sorted(split_classes ^ corpus_classes)
            raise DataError(f"{self.real} was split for other classes than {self.corpus} has "
                            f"({', '.join(odd[:5])}{'...' if len(odd) > 5 else ''}); split again "
                            f"with --classes_from={self.corpus} once the corpus is complete")

    def scorer_command(self, steps):
        cmd = [sys.executable, "-m", "scripts.train_alexnet", f"--dataset={self.corpus}",
               f"--test_data={self.real}/test", f"--config={self.scorer_config}",
               f"--num_steps={steps}", f"--save_every={self.scorer_every}",
               f"--eval_every={self.scorer_every}", f"--workdir={self.scorer_workdir}"]
        if self.real_training:
            cmd.insert(5, f"--real_data={self.real}/train")
        return cmd + [f"--override={o}" for o in self.scorer_overrides]

    def model_command(self, steps):
        return [sys.executable, "-m", "scripts.train_sketch_rnn", f"--dataset={self.corpus}",
                f"--config={self.model_config}", f"--num_steps={steps}",
                f"--save_every={min(self.model_every, 250)}",
                f"--eval_every={min(self.model_every, 500)}",
                f"--workdir={self.model_workdir}"] + [
                    f"--override={o}" for o in self.model_overrides]


def _libc_prctl():
    try:
        return ctypes.CDLL(None, use_errno=True).prctl  # Looked up here, not after fork.
    except (OSError, AttributeError):
        return None


_PRCTL = _libc_prctl()


def _stop_with_parent():
    """In the child: SIGTERM when the driver dies, even by SIGKILL (Linux PR_SET_PDEATHSIG),
    so an orphaned trainer saves its step and stops instead of holding the workdir."""
    if _PRCTL is not None:
        _PRCTL(1, int(signal.SIGTERM))


def run_child(cmd):
    """Runs a trainer in its own session; Ctrl-C or SIGTERM here reach it once, so it saves its
    step and stops; so does the driver's death. Returns its exit code."""
    proc = subprocess.Popen(cmd, start_new_session=True, preexec_fn=_stop_with_parent)

    def forward(signum, frame):
        del frame
        proc.send_signal(signum)

    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        return proc.wait()
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def flat(values, patience, min_delta):
    """True when the last `patience` values improve on the best before them by < min_delta."""
    if len(values) <= patience:
        return False
    return max(values[-patience:]) < max(values[:-patience]) + min_delta


def checkpoint_step(workdir):
    """The step of a workdir's newest checkpoint (0 without one)."""
    path = checkpoints.latest_checkpoint(workdir)
    return checkpoints.step_of(path) if path else 0


def _last_scalar(workdir, split, tags):
    """{tag: latest value} of the first tags found in workdir/events/<split> (empty if none)."""
    try:
        scalars = metrics_plot.read_scalars(pathlib.Path(workdir) / layout.EVENTS / split)
    except DataError:
        return {}
    return {t: float(scalars[t][1][-1]) for t in tags if t in scalars and len(scalars[t][1])}


class Exp1Run:
    """The resumable run: `record` (out/curve.json) says which points are done."""

    def __init__(self, plan, out, command=""):
        plan.check()
        self.plan, self.out = plan, pathlib.Path(out)
        self.path = self.out / RECORD
        params = json.loads(json.dumps(dataclasses.asdict(plan)))
        fresh = {"plan": params, "command": command, "scorer": [], "sketch_rnn": [],
                 "scorer_done": "", "sketch_rnn_done": ""}
        if self.path.is_file():
            try:
                self.record = json.loads(self.path.read_text())
            except (OSError, ValueError) as e:
                raise DataError(f"{self.path}: unreadable record ({e}); move it aside") from None
            if not isinstance(self.record, dict) or self.record.get("plan") != params:
                raise DataError(f"{self.path}: records a different plan; use another --out or "
                                "the recorded flags")
            if any(not isinstance(self.record.get(k), type(v)) for k, v in fresh.items()) or \
                    not isinstance(self.record.get("earlier", []), list):
                raise DataError(f"{self.path}: damaged record; move it aside to start again")
        else:
            self.record = fresh
        self._forget_lost_points()

    def _forget_lost_points(self):
        """Points measured on a workdir that is gone (a new machine, a deleted folder) are
        measured anew: a curve whose last point is beyond its workdir's step starts again, and
        so do the Sketch RNN's points when the scorer that measured them is gone. The old
        points stay in the record under "earlier" (the docs keep what they showed)."""
        p = self.plan
        lost = []
        for key, workdir in (("scorer", p.scorer_workdir), ("sketch_rnn", p.model_workdir)):
            rows, step = self.record[key], checkpoint_step(workdir)
            if rows and (rows[-1]["step"] > step or (key == "sketch_rnn" and "scorer" in lost)):
                lost.append(key)
                print(f"{display_path(self.path)}: the {key} points up to step "
                      f"{rows[-1]['step']:,} were measured on a {key} that is gone "
                      f"({display_path(workdir)} is at step {step:,}); training on from there "
                      "and measuring them anew.", flush=True)
                earlier = self.record.setdefault("earlier", [])
                earlier.append({"curve": key, "workdir_step": step, "points": rows,
                                "done": self.record[key + "_done"]})
                self.record[key], self.record[key + "_done"] = [], ""

    def save(self):
        self.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, json.dumps(self.record, indent=1) + "\n")
        atomic_write_text(self.out / RECORD_MD, curve_markdown(self.record))
        plot_curve(self.record, self.out / RECORD_PNG)

    def _train(self, cmd, workdir):
        """Runs the trainer; returns the step its workdir is at (more if it was further)."""
        print("$ " + " ".join(cmd[1:]), flush=True)
        code = run_child(cmd)
        if code:
            raise ChildFailed(code, cmd[2])
        return checkpoint_step(workdir)

    def _grow(self, key, every, max_steps, command, workdir, measure, stop):
        """Adds points to record[key] until record[key + "_done"] says why it stopped.

        Each point trains `workdir` to the next multiple of `every` (command(step)), then
        appends measure(step) and asks stop(rows, step) for a reason to end ("" = go on).
        """
        rows, done = self.record[key], key + "_done"
        while not self.record[done]:
            step = (rows[-1]["step"] if rows else 0) + every
            if step > max_steps:
                self.record[done] = f"max_steps {max_steps}"
                break
            step = self._train(command(step), workdir)
            rows.append(measure(step))
            self.record[done] = stop(rows, step)
            self.save()
        self.save()

    def scorer_curve(self):
        """Grows the scorer to each point; stops when its real-test accuracy is flat."""
        p = self.plan

        def measure(step):
            path = pathlib.Path(p.scorer_workdir) / TEST_METRICS
            try:
                final = json.loads(path.read_text())["final"]
                acc, n = float(final["accuracy"]), int(final["num_examples"])
            except (OSError, ValueError, KeyError, TypeError) as e:
                raise DataError(f"{path}: no test accuracy after training ({e})") from None
            valid = _last_scalar(p.scorer_workdir, "valid", ("accuracy",))
            print(f"Scorer at step {step}: accuracy {acc:.3f} on {n} held-apart real drawings.",
                  flush=True)
            return {"step": step, "real_test_accuracy": acc, "real_test_n": n,
                    "valid_accuracy": valid.get("accuracy")}

        def stop(rows, step):
            values = [r["real_test_accuracy"] for r in rows]
            return f"flat after step {step}" if flat(values, p.patience,
                                                     p.min_delta_scorer) else ""

        self._grow("scorer", p.scorer_every, p.scorer_max_steps, p.scorer_command,
                   p.scorer_workdir, measure, stop)

    def model_curve(self, evaluate_fn):
        """Grows the Sketch RNN; after each point runs Experiment 1 into out/.

        Stops at `target` correct outputs, a flat curve or model_max_steps.
        """
        p = self.plan

        def measure(step):
            r = evaluate_fn(p.model_workdir, p.scorer_workdir,
                            [str(pathlib.Path(p.real) / "inputs")], str(self.out),
                            split="all", total=p.num_inputs)
            valid = _last_scalar(p.model_workdir, "valid", ("nll_offsets", "L_R", "L_KL"))
            return {"step": step, "outputs_correct": r["outputs_correct"],
                    "inputs_correct": r["inputs_correct"], "n": r["n"],
                    "outputs_mean": r["table3"]["outputs"]["mean"],
                    **{f"valid_{k}": v for k, v in valid.items()}}

        def stop(rows, step):
            if rows[-1]["outputs_correct"] >= p.target:
                return f"target {p.target} met at step {step}"
            if flat([x["outputs_correct"] for x in rows], p.patience, 1):
                return f"flat after step {step}"
            return ""

        self._grow("sketch_rnn", p.model_every, p.model_max_steps, p.model_command,
                   p.model_workdir, measure, stop)


class ChildFailed(Exception):
    """A trainer exited non-zero (its code is kept, so a signal's 128 + n passes through)."""

    def __init__(self, code, what):
        code = 128 - code if code < 0 else code  # Popen: -N when killed by signal N.
        why = ("was stopped by a signal; rerun the same command to resume" if code > 128
               else f"failed with exit code {code} (its error is above)")
        super().__init__(f"{what} {why}")
        self.code = code


def curve_markdown(record):
    """The record as a page: command, both curves, where each stopped."""
    p = record["plan"]
    lines = ["# Experiment 1: learning curves", "",
             "Written by `scripts.run_experiment1` after every point; rerun the command to "
             "resume.", "", "```bash", record.get("command") or "(command not recorded)", "```",
             "", f"## Scorer (`{display_path(p['scorer_workdir'])}`): accuracy on held-apart "
             "real drawings",
             "", "| step | real test accuracy | n | valid accuracy (generated) |",
             "|---:|---:|---:|---:|"]
    for r in record["scorer"]:
        v = r.get("valid_accuracy")
        lines.append(f"| {r['step']:,} | {r['real_test_accuracy']:.3f} | {r['real_test_n']} | "
                     f"{'-' if v is None else f'{v:.3f}'} |")
    lines += ["", f"Status: {record['scorer_done'] or 'running'}.", "",
              f"## Sketch RNN (`{display_path(p['model_workdir'])}`): Experiment 1 on "
              f"{p['num_inputs']} real inputs (goal {p['target']})", "",
              "| step | outputs correct | inputs correct | outputs mean softmax | valid nll_offsets |",
              "|---:|---:|---:|---:|---:|"]
    for r in record["sketch_rnn"]:
        v = r.get("valid_nll_offsets")
        lines.append(f"| {r['step']:,} | {r['outputs_correct']}/{r['n']} | "
                     f"{r['inputs_correct']}/{r['n']} | {r['outputs_mean']:.3f} | "
                     f"{'-' if v is None else f'{v:.3f}'} |")
    lines += ["", f"Status: {record['sketch_rnn_done'] or 'running'}.", ""]
    for e in record.get("earlier", []):
        points = e["points"]
        lines.append(f"Earlier {e['curve']} points ({len(points)}, up to step "
                     f"{points[-1]['step']:,}) were measured on a workdir that is gone; they "
                     f"are kept in `{RECORD}` under \"earlier\" and measured anew above.")
    return "\n".join(lines) + ("\n" if record.get("earlier") else "")


def plot_curve(record, path):
    """Two panels: scorer accuracy and correct outputs against steps."""
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    s = record["scorer"]
    axes[0].plot([r["step"] for r in s], [r["real_test_accuracy"] for r in s], "o-")
    axes[0].set(title="scorer: held-apart real drawings", xlabel="step", ylabel="accuracy",
                ylim=(0, 1))
    m = record["sketch_rnn"]
    axes[1].plot([r["step"] for r in m], [r["outputs_correct"] for r in m], "o-", label="outputs")
    axes[1].plot([r["step"] for r in m], [r["inputs_correct"] for r in m], "s--", label="inputs")
    axes[1].axhline(record["plan"]["target"], color="gray", lw=0.8, label="seed")
    axes[1].set(title="Sketch RNN: Experiment 1", xlabel="step", ylabel="correct of "
                f"{record['plan']['num_inputs']}", ylim=(0, record["plan"]["num_inputs"]))
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=90))
    plt.close(fig)


def run(plan, out, command="", evaluate_fn=None):
    """Both curves, resumed from out/curve.json. Returns the record."""
    evaluate_fn = evaluate_fn or exp1_evaluate.evaluate
    runner = Exp1Run(plan, out, command)
    runner.save()
    runner.scorer_curve()
    print(f"Scorer: {runner.record['scorer_done']}.", flush=True)
    runner.model_curve(evaluate_fn)
    last = runner.record["sketch_rnn"][-1] if runner.record["sketch_rnn"] else None
    if last:
        print(f"Sketch RNN: {runner.record['sketch_rnn_done']}; {last['outputs_correct']}/"
              f"{last['n']} outputs correct at step {last['step']} (goal {plan.target}). "
              f"Record: {display_path(runner.out / RECORD_MD)}", flush=True)
    return runner.record

