"""Hyperparameters of Sketch RNN: one frozen dataclass, named presets and string overrides."""

import dataclasses

from common.training import config as config_utils
from common.training.strategies import STRATEGIES
from sketch_rnn.cells import CELL_KINDS
from sketch_rnn.precision import MATMUL_DTYPE_CHOICES, resolve_matmul_dtype


@dataclasses.dataclass(frozen=True)
class SketchRNNConfig(config_utils.ConfigBase):
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
      log_epsilon: epsilon inside log(sum_j Pi_j N_j) of L_s.
      mask_pen_loss_in_eval: L_p only over real strokes in compute_losses(training=False)
        (magenta's eval model); the trainer's validation L_p is the training-mode value.

    Training:
      learning_rate, decay_rate, min_learning_rate: lr(step) schedule.
      grad_clip: element-wise gradient clip.
      max_grad_norm: a step whose global gradient norm (before clipping) is above this is
        skipped and logged, like a non-finite one (0 = off; about 160x the largest norm seen in our runs).
      num_steps, save_every, eval_every, log_every, seed, jit_compile,
      strategy (see common.training.STRATEGIES).
      matmul_dtype: operand dtype of the recurrent and MDN matmuls, "bfloat16" (fp32
        accumulation, fp32 states and losses) or "float32". "auto" (the default) is
        resolved when the config is built: bf16 only where the hardware has bf16 matmuls,
        else fp32 (sketch_rnn.precision.resolve_matmul_dtype); the config then holds the
        resolved value, and so does config.json.
      sample_temperatures: temperatures of the samples logged during training.
      init_from: a workdir (a training run or an imported .gen.json model) whose latest
        weights start this run, with a fresh optimiser and step count; "" starts from the
        initialisers. Only a new run uses it: a resumed run continues from its checkpoint.
    """

    data: tuple[str, ...] = ("builtin",)
    max_seq_len: int = 250
    batch_size: int = 100
    enc_model: str = "lstm"
    dec_model: str = "lstm"
    enc_rnn_size: int = 256
    dec_rnn_size: int = 512
    z_size: int = 128
    num_mixture: int = 20
    conditional: bool = True
    use_recurrent_dropout: bool = True
    recurrent_dropout_prob: float = 0.90
    hyper_num_units: int = 256
    hyper_embedding_size: int = 32
    forget_bias: float = 1.0
    hyper_use_layer_norm: bool = True
    hyper_use_recurrent_dropout: bool = False
    init_stddev: float = 0.001
    kl_weight: float = 0.5
    kl_weight_start: float = 0.01
    kl_decay_rate: float = 0.99995
    kl_tolerance: float = 0.2
    log_epsilon: float = 1e-6
    mask_pen_loss_in_eval: bool = True
    learning_rate: float = 1e-3
    decay_rate: float = 0.9999
    min_learning_rate: float = 1e-5
    grad_clip: float = 1.0
    max_grad_norm: float = 1e5
    random_scale_factor: float = 0.15
    augment_stroke_prob: float = 0.10
    num_steps: int = 100_000
    save_every: int = 500
    eval_every: int = 500
    log_every: int = 50
    seed: int = 0
    jit_compile: bool = True
    matmul_dtype: str = "auto"
    strategy: str = "default"
    sample_temperatures: tuple[float, ...] = (0.1, 0.5, 0.9)
    init_from: str = ""

    PRESETS = ("testing", "default", "paper", "layer_norm")
    LABEL = "Sketch RNN"

    def __post_init__(self):
        def fail(name, why):
            raise ValueError(f"SketchRNNConfig.{name}={getattr(self, name)!r}: {why}")

        # Coerce JSON-ish values (lists, ints for floats) and check the types.
        config_utils.coerce_fields(self, fail)

        if not self.data or any(not s for s in self.data):
            fail("data", "need at least one non-empty source")
        for name in ("max_seq_len", "batch_size", "enc_rnn_size", "dec_rnn_size", "z_size",
                     "num_mixture", "hyper_num_units", "hyper_embedding_size", "save_every",
                     "eval_every", "log_every"):
            if getattr(self, name) < 1:
                fail(name, "must be a positive integer")
        if self.num_steps < 0:
            fail("num_steps", "must be >= 0")
        if self.seed < 0:
            fail("seed", "must be >= 0")
        for name in ("enc_model", "dec_model"):
            if getattr(self, name) not in CELL_KINDS:
                fail(name, f"must be one of {CELL_KINDS}")
        for name in ("recurrent_dropout_prob", "kl_decay_rate", "decay_rate"):
            if not 0 < getattr(self, name) <= 1:
                fail(name, "must be in (0, 1]")
        for name in ("kl_weight", "kl_weight_start", "kl_tolerance", "min_learning_rate",
                     "random_scale_factor", "augment_stroke_prob", "max_grad_norm"):
            if getattr(self, name) < 0:
                fail(name, "must be >= 0")
        for name in ("learning_rate", "grad_clip", "log_epsilon", "init_stddev"):
            if getattr(self, name) <= 0:
                fail(name, "must be > 0")
        if self.random_scale_factor >= 1:
            fail("random_scale_factor", "must be < 1")
        if self.augment_stroke_prob > 1:
            fail("augment_stroke_prob", "must be <= 1")
        if self.min_learning_rate > self.learning_rate:
            fail("min_learning_rate", f"must be <= learning_rate ({self.learning_rate})")
        if not self.sample_temperatures or any(t <= 0 for t in self.sample_temperatures):
            fail("sample_temperatures", "need at least one temperature, all > 0")
        if self.strategy not in STRATEGIES:
            fail("strategy", f"must be one of {STRATEGIES}")
        if self.matmul_dtype not in MATMUL_DTYPE_CHOICES:
            fail("matmul_dtype", f"must be one of {MATMUL_DTYPE_CHOICES}")
        # Resolved once, here: every layer of a model built from this config uses it.
        object.__setattr__(self, "matmul_dtype", resolve_matmul_dtype(self.matmul_dtype))

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
