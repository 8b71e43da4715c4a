"""The pretrained report's measures: pure numpy over per-model, per-class NLLs."""

import numpy as np

L_S_N_MAX = 250  # magenta's N_max for aaron_sheep: L_s divides the summed NLL by it.
KEYS = ("nll_offsets", "nll_pen", "nll")
WEAK_FACTOR = 1.5  # weak_models: median over classes above 1.5x the median model's.


def aaron_sheep_scores(nll, lengths):
    """magenta's views of per-sketch NLLs on aaron_sheep's test split.

    Args:
        nll: SketchModel.log_likelihood output for the sketches.
        lengths: (B,) points of each sketch.

    Returns:
        mean (of per-sketch means), length-weighted mean and L_s (summed over real points,
        divided by N_max = 250 and the batch) for the offsets, and the same for the pen
        (over the points and the end step).
    """
    n = np.asarray(lengths, np.float64)
    off, pen = np.asarray(nll["nll_offsets"]), np.asarray(nll["nll_pen"])
    b = len(n)
    return {"n": b, "nll_offsets_mean": float(off.mean()),
            "nll_offsets_weighted": float((off * n).sum() / n.sum()),
            "L_s": float((off * n).sum() / (b * L_S_N_MAX)),
            "nll_pen_mean": float(pen.mean()),
            "nll_pen_weighted": float((pen * (n + 1)).sum() / (n + 1).sum()),
            "L_p": float((pen * (n + 1)).sum() / (b * L_S_N_MAX)),
            "nll_mean": float(np.asarray(nll["nll"]).mean())}

def confusion_matrix(scores, models, classes, key="mean_nll_offsets"):
    """(len(models), len(classes)) array of scores[model][class][key]."""
    return np.array([[scores[m][c][key] for c in classes] for m in models], np.float64)

def nan_is_worst(matrix):
    """NaN (the model gave a drawing zero density in float32) counts as the worst score."""
    return np.where(np.isnan(matrix), np.inf, matrix)

def ranking(matrix, models, classes):
    """Which model scores each class best, and where each class's own model ranks.

    A NaN cell counts as the worst score.

    Returns:
        {"best_model": {class: model}, "own_rank": {class: 1-based rank or None},
         "matched": classes whose own model is best, "scored": classes with an own model}.
    """
    matrix = nan_is_worst(matrix)
    best, own = {}, {}
    for j, cls in enumerate(classes):
        col = matrix[:, j]
        best[cls] = models[int(np.argmin(col))]
        if cls in models:
            own[cls] = int(np.sum(col < col[models.index(cls)])) + 1
        else:
            own[cls] = None
    ranked = [r for r in own.values() if r is not None]
    return {"best_model": best, "own_rank": own, "matched": sum(r == 1 for r in ranked),
            "scored": len(ranked)}

def weak_models(matrix, models, factor=WEAK_FACTOR):
    """Models whose median over the columns exceeds `factor` x the median model's median.

    A rule for setting apart files that score every class of drawings badly (NaN counts as
    the worst score); it was chosen after looking at the table, so the report names it.
    """
    medians = np.median(nan_is_worst(matrix), axis=1)
    limit = factor * float(np.median(medians))
    return [m for m, v in zip(models, medians) if v > limit]

def subset(matrix, models, classes, keep):
    """The rows and columns of `keep` (models and classes of the same names)."""
    rows = [models.index(k) for k in keep]
    cols = [classes.index(k) for k in keep if k in classes]
    return matrix[np.ix_(rows, cols)], list(keep), [classes[j] for j in cols]
