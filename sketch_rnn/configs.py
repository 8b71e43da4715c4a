"""Hyperparameters of Sketch RNN: one frozen dataclass, named presets and string overrides."""

import dataclasses

from common.training import config as config_utils
from common.training import layout
from common.hardware import probe as precision_probe
from common.training.config import field

CELL_KINDS = ("lstm", "layer_norm", "hyper")  # sketch_rnn.cells builds each.
MATMUL_DTYPES = ("float32", "bfloat16")
MATMUL_DTYPE_CHOICES = MATMUL_DTYPES + ("auto",)  # "auto": whichever is measured faster.
STROKE_INPUTS = 5  # stroke-5 (sketch_rnn.model.NUM_INPUTS).


def matmul_shapes(config):
    """The (M, K, N) gate matmuls that dominate a config's training step, for "auto".

    The decoder's fused [x; h] @ W with x = [stroke-5; z], then (conditional) the
    encoder's, x = stroke-5; M is the batch.

    Args:
        config: a SketchRNNConfig, or the class itself (its attributes are the defaults).
    """
    dec_in = STROKE_INPUTS + (config.z_size if config.conditional else 0)
    shapes = [(config.batch_size, dec_in + config.dec_rnn_size, 4 * config.dec_rnn_size)]
    if config.conditional:
        shapes.append((config.batch_size, STROKE_INPUTS + config.enc_rnn_size,
                       4 * config.enc_rnn_size))
    return tuple(shapes)


def auto_matmul_dtype(shapes=None, jit_compile=True):
    """The probe's Decision for "auto" (common.hardware.probe.probe).

    Args:
        shapes: the (M, K, N) matmuls to time; None: default()'s (for a cell that
            resolves "auto" on its own).
        jit_compile: time them under XLA, as a jit-compiled training step runs them.
    """
    return precision_probe.probe(matmuls=shapes or matmul_shapes(SketchRNNConfig),
                                 jit_compile=jit_compile)


def resolve_matmul_dtype(dtype, shapes=None, jit_compile=True):
    """"auto" -> the faster of "bfloat16" and "float32" here (auto_matmul_dtype); an explicit
    dtype as given, without measuring anything.

    Args:
        dtype: one of MATMUL_DTYPE_CHOICES.
        shapes, jit_compile: what "auto" times (see auto_matmul_dtype).

    Raises:
        ValueError: `dtype` is not one of MATMUL_DTYPE_CHOICES.
    """
    if dtype not in MATMUL_DTYPE_CHOICES:
        raise ValueError(f"matmul dtype {dtype!r}: use one of {MATMUL_DTYPE_CHOICES}")
    if dtype == "auto":
        return auto_matmul_dtype(shapes, jit_compile).dtype
    return dtype


def describe_matmul_dtype(config):
    """"Matmul dtype: <dtype> (<why>)." for a trainer's first lines: the probe's reason where
    "auto" chose it in this process, else that it was set explicitly."""
    decision = precision_probe.last_decision(matmuls=matmul_shapes(config),
                                             jit_compile=config.jit_compile)
    if decision is not None and decision.dtype == config.matmul_dtype:
        why = f'"auto": {decision.why}'
    else:
        why = 'set explicitly, not measured; "auto" measures which is faster'
    return f"Matmul dtype: {config.matmul_dtype} ({why})."


@dataclasses.dataclass(frozen=True)
class SketchRNNConfig(config_utils.TrainingConfig):
    """All settings of a Sketch RNN run. Defaults are magenta's `get_default_hparams()`.

    Data:
      data: stroke files (.npz / .ndjson) or "builtin".
      max_seq_len: N_max; longer sketches are dropped (batches have N_max + 1 rows with S0).
      batch_size: examples per step (global batch).
      random_scale_factor, augment_stroke_prob: augmentation (x/y scale, point merging).

    Model:
      enc_model, dec_model: "lstm", "layer_norm" or "hyper" (magenta rnn.py cells).
      enc_rnn_size, dec_rnn_size: cell sizes (the encoder is bidirectional).
      z_size: N_z.
      num_mixture: M, the number of bivariate normals.
      conditional: VAE (True) or decoder only (False: no encoder, zero state, no KL).
      use_recurrent_dropout, recurrent_dropout_prob: dropout on the candidate g; the prob is
        the KEEP probability, as in magenta.
      hyper_num_units, hyper_embedding_size: HyperLSTM hyper cell size and embedding size.
      forget_bias: added to the forget gate pre-activation (magenta 1.0).
      hyper_use_layer_norm: HyperLSTM layer norm on the gates and a LayerNorm hyper cell.
      hyper_use_recurrent_dropout: recurrent dropout inside the hyper cell (magenta False).
      init_stddev: normal init stddev of the mu / sigma_hat and z -> state Dense layers
        (magenta 0.001).

    Loss:
      kl_weight, kl_weight_start, kl_decay_rate: KL annealing w_KL(step).
      kl_tolerance: the KL floor.
      pen_loss_weight: w_p, the weight of L_p in the training loss (L_s + w_p L_p + ...);
        1 is magenta's. The logged L_R and the validation NLLs stay unweighted.
      log_epsilon: epsilon inside log(sum_j Pi_j N_j) of L_s.
      mask_pen_loss_in_eval: L_p only over real strokes in compute_losses(training=False)
        (magenta's eval model); the trainer's validation L_p is the training-mode value.

    Training:
      learning_rate, decay_rate, min_learning_rate: lr(step) schedule.
      grad_clip: element-wise gradient clip.
      jit_compile: XLA-compile the train step.
      num_steps, save_every, eval_every, log_every, seed, strategy, max_grad_norm: see
        common.training.config.TrainingConfig (max_grad_norm 1e5 is about 160x the largest
        norm seen in our runs).
      matmul_dtype: operand dtype of the recurrent and MDN matmuls, "bfloat16" (fp32
        accumulation, fp32 states and losses) or "float32". "auto" (the default) is
        resolved when the config is built: both are timed on this config's gate matmuls
        (matmul_shapes) and bf16 is taken only where it is at least 5% faster; without
        native bf16 (no avx512_bf16 / amx_bf16 flag) fp32, untimed. The decision is
        cached on disk per machine (common.hardware.probe). The config then
        holds the resolved value, and so does config.json. "float32" or "bfloat16"
        (e.g. --override=matmul_dtype=float32) is the override: nothing is timed.
      eval_max_sketches: sketches of the valid and test splits each evaluation scores: 0
        (the default, as magenta) the whole splits, else that many of each, drawn once
        with the seed and the same every time. For large corpora (QuickDraw's 2,500 per
        class), where scoring whole splits every eval_every steps costs more than the
        training between.
      sample_temperatures: temperatures of the samples logged during training.
      init_from: a workdir (a training run or an imported .gen.json model) whose latest
        weights start this run, with a fresh optimiser and step count; "" starts from the
        initialisers. Only a new run uses it: a resumed run continues from its checkpoint.
    """

    data: tuple[str, ...] = ("builtin",)
    max_seq_len: int = field(250, ge=1)
    batch_size: int = 100
    enc_model: str = field("lstm", choices=CELL_KINDS)
    dec_model: str = field("lstm", choices=CELL_KINDS)
    enc_rnn_size: int = field(256, ge=1)
    dec_rnn_size: int = field(512, ge=1)
    z_size: int = field(128, ge=1)
    num_mixture: int = field(20, ge=1)
    conditional: bool = True
    use_recurrent_dropout: bool = True
    recurrent_dropout_prob: float = field(0.90, gt=0, le=1)
    hyper_num_units: int = field(256, ge=1)
    hyper_embedding_size: int = field(32, ge=1)
    forget_bias: float = 1.0
    hyper_use_layer_norm: bool = True
    hyper_use_recurrent_dropout: bool = False
    init_stddev: float = field(0.001, gt=0)
    kl_weight: float = field(0.5, ge=0)
    kl_weight_start: float = field(0.01, ge=0)
    kl_decay_rate: float = field(0.99995, gt=0, le=1)
    kl_tolerance: float = field(0.2, ge=0)
    pen_loss_weight: float = field(1.0, ge=0)
    log_epsilon: float = field(1e-6, gt=0)
    mask_pen_loss_in_eval: bool = True
    learning_rate: float = field(1e-3, gt=0)
    decay_rate: float = field(0.9999, gt=0, le=1)
    min_learning_rate: float = field(1e-5, ge=0)
    grad_clip: float = field(1.0, gt=0)
    random_scale_factor: float = field(0.15, ge=0, lt=1)
    augment_stroke_prob: float = field(0.10, ge=0, le=1)
    save_every: int = 500
    eval_every: int = 500
    eval_max_sketches: int = field(0, ge=0)
    jit_compile: bool = True
    matmul_dtype: str = field("auto", choices=MATMUL_DTYPE_CHOICES)
    sample_temperatures: tuple[float, ...] = field((0.1, 0.5, 0.9), gt=0)
    init_from: str = ""

    PRESETS = ("testing", "default", "paper", "layer_norm")
    LABEL = "Sketch RNN"

    def validate(self, fail):
        if not self.data or any(not s for s in self.data):
            fail("data", "need at least one non-empty source")
        if self.min_learning_rate > self.learning_rate:
            fail("min_learning_rate", f"must be <= learning_rate ({self.learning_rate})")
        if not self.sample_temperatures:
            fail("sample_temperatures", "need at least one temperature, all > 0")

    def resolve(self):
        # Resolved once, here: every layer of a model built from this config uses it.
        object.__setattr__(self, "matmul_dtype", resolve_matmul_dtype(
            self.matmul_dtype, matmul_shapes(self), self.jit_compile))

    @property
    def recurrent_dropout_keep(self):
        """Keep probability the cells use (1.0 when recurrent dropout is off)."""
        return self.recurrent_dropout_prob if self.use_recurrent_dropout else 1.0

    @classmethod
    def default(cls):
        """magenta's default hyperparameters (LSTM encoder 256, LSTM decoder 512)."""
        return cls()

    @classmethod
    def paper(cls):
        """The seed paper (Table 1): HyperLSTM encoder 512, decoder 2048, 45k steps."""
        return cls(enc_model="hyper", dec_model="hyper", enc_rnn_size=512,
                   dec_rnn_size=2048, num_steps=45_000, save_every=500)

    @classmethod
    def layer_norm(cls):
        """LayerNorm LSTM cells (256 / 512) with recurrent dropout, for small datasets."""
        return cls(enc_model="layer_norm", dec_model="layer_norm", enc_rnn_size=256,
                   dec_rnn_size=512, use_recurrent_dropout=True)

    @classmethod
    def testing(cls):
        """Tiny sizes for unit tests."""
        return cls(enc_rnn_size=8, dec_rnn_size=16, z_size=4, num_mixture=3,
                   hyper_num_units=8, hyper_embedding_size=4, max_seq_len=32, batch_size=4,
                   num_steps=2, save_every=1, eval_every=1, log_every=1, jit_compile=False,
                   matmul_dtype="float32")


get_config = SketchRNNConfig.preset  # Named preset (see SketchRNNConfig.PRESETS).


def read_workdir_config(workdir):
    """(SketchRNNConfig, the "source" section of an imported model or None) of a workdir."""
    return layout.read_config(workdir, SketchRNNConfig, "Sketch RNN")
