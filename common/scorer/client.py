"""The AlexNet scorer's SavedModel client: load with the kind check, score stroke-3 sketches."""

import numpy as np

from common import exports
from common.strokes.formats import pad_stroke3


class Scorer:
    """An exported AlexNet scorer: stroke-3 batches -> softmax and fc7 embeddings.

    Args:
        path: export folder or workdir (a SavedModel is code: load only what you trust).
    """

    def __init__(self, path):
        self.path, self._m, self.meta = exports.load_export(path, "alexnet")
        self.class_names = list(self.meta["class_names"])

    def score(self, sketches, batch_size=256):
        """List of stroke-3 -> (probs (B, C), embedding (B, E)) numpy arrays."""
        probs, emb = [], []
        for i in range(0, len(sketches), batch_size):
            chunk = [nonempty(s) for s in sketches[i:i + batch_size]]
            x, lengths = pad_stroke3(chunk)
            out = self._m.score(strokes=x, lengths=lengths)
            probs.append(out["probs"].numpy())
            emb.append(out["embedding"].numpy())
        return np.concatenate(probs), np.concatenate(emb)


def nonempty(s3):
    """A (N, 3) float32 sketch, or one zero point for an empty one (the scorer needs a point)."""
    s3 = np.asarray(s3, np.float32).reshape(-1, 3)
    return s3 if len(s3) else np.zeros((1, 3), np.float32)
