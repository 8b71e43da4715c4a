"""Matmul precision of the Sketch RNN layers: the fp32 / bf16 choice and the matmuls that take it."""

import tensorflow as tf

try:  # Private TF modules: without them, the XLA-only paths fall back to plain ops.
    from tensorflow.compiler.tf2xla.python import xla
    from tensorflow.python.framework import ops as tf_ops
    from tensorflow.python.ops import control_flow_util
except ImportError:  # pragma: no cover
    xla = tf_ops = control_flow_util = None

def tf_dtype(dtype):
    """The TF dtype of the matmul operands: tf.bfloat16 or tf.float32."""
    return tf.bfloat16 if dtype == "bfloat16" else tf.float32


def storage_dtype(dtype):
    """dtype of activations saved for a backward pass under matmul dtype `dtype`.

    bf16 is kept as its uint16 bits: XLA:CPU otherwise converts the whole bf16 buffer to
    fp32 and back around every per-step dynamic-update-slice.
    """
    return tf.uint16 if dtype == "bfloat16" else tf.float32


def to_storage(x, dtype):
    """x in the storage dtype of matmul dtype `dtype` (see storage_dtype)."""
    if storage_dtype(dtype) == tf.uint16:
        return tf.bitcast(tf.cast(x, tf.bfloat16), tf.uint16)
    return x


def from_storage(x, dtype):
    """Stored values -> the TF dtype `dtype` (bf16 stays bf16 when dtype is bf16)."""
    if x.dtype == tf.uint16:
        x = tf.bitcast(x, tf.bfloat16)
    return tf.cast(x, dtype)


def _in_xla():
    """True while tracing inside tf.function(jit_compile=True)."""
    if control_flow_util is None:  # pragma: no cover - private TF modules moved.
        return False
    return control_flow_util.GraphOrParentsInXlaContext(tf_ops.get_default_graph())


def _physical_transpose(x):
    """x^T (2-D) materialised in row-major layout.

    XLA turns a plain transpose into a layout change that the dot then reads as a
    column-major operand, and its CPU bf16 dot (XNNPACK) only takes row-major ones. A
    1-D array has one layout, so flattening behind an optimization barrier forces the copy.
    """
    if xla is None:  # pragma: no cover - private TF module moved.
        return tf.transpose(x)
    shape = tf.shape(x)
    flat = xla.optimization_barrier(tf.reshape(tf.transpose(x), [-1]))[0]
    return tf.reshape(flat, tf.stack([shape[1], shape[0]]))  # (N, M)


def matmul_operand(x, dtype, transpose=False):
    """x cast to the matmul dtype `dtype` (and transposed when asked), for reuse in a loop.

    Returns (operand, transposed): pass `transposed` on as matmul's transpose flag.
    Outside XLA or in fp32 the transpose is left to the matmul.
    """
    x = tf.convert_to_tensor(x)
    if dtype == "float32" or x.dtype not in (tf.float32, tf.bfloat16):
        return x, transpose
    x = tf.cast(x, tf.bfloat16)
    if transpose and _in_xla():
        return _physical_transpose(x), False
    return x, transpose


def matmul(a, b, dtype, transpose_a=False, transpose_b=False):
    """a @ b with operands in `dtype` ("float32" or "bfloat16") and an fp32 result.

    An a of rank > 2 with a 2-D b is flattened to one 2-D matmul. bf16 uses XLA's
    bf16 x bf16 -> fp32 dot under jit_compile, else oneDNN's bf16 matmul (its result is
    rounded to bf16) and a cast. Operands already prepared by matmul_operand are not
    cast again.
    """
    a, b = tf.convert_to_tensor(a), tf.convert_to_tensor(b)
    if a.shape.rank > 2 and b.shape.rank == 2 and not transpose_a:
        lead = tf.shape(a)[:-1]
        flat = tf.reshape(a, (-1, tf.shape(a)[-1]))  # (N, K)
        out = matmul(flat, b, dtype, transpose_b=transpose_b)  # (N, M)
        return tf.reshape(out, tf.concat([lead, tf.shape(out)[-1:]], 0))  # (..., M)
    if dtype == "float32" and a.dtype == b.dtype:
        return tf.linalg.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b)
    return _bf16_matmul(a, b, transpose_a, transpose_b)


def _bf16_matmul(a, b, transpose_a, transpose_b):
    """bf16 x bf16 -> fp32 matmul whose gradients are bf16 matmuls too.

    (TF's own gradient of a bf16 x bf16 -> fp32 matmul multiplies the fp32 gradient by
    the bf16 operand, which falls back to the slow SparseMatMul kernel.)
    """

    @tf.custom_gradient
    def mm(a, b):
        a16, ta = matmul_operand(a, "bfloat16", transpose_a)
        b16, tb = matmul_operand(b, "bfloat16", transpose_b)
        if _in_xla():
            out = tf.linalg.matmul(a16, b16, transpose_a=ta, transpose_b=tb,
                                   output_type=tf.float32)
        else:
            out = tf.cast(tf.linalg.matmul(a16, b16, transpose_a=ta, transpose_b=tb),
                          tf.float32)

        def grad(dy):
            if transpose_a:  # da = (dy @ op(b)^T)^T
                da = matmul(b, dy, "bfloat16", transpose_a=transpose_b, transpose_b=True)
            else:
                da = matmul(dy, b, "bfloat16", transpose_b=not transpose_b)
            if transpose_b:  # db = (op(a)^T @ dy)^T
                db = matmul(dy, a, "bfloat16", transpose_a=True, transpose_b=transpose_a)
            else:
                db = matmul(a, dy, "bfloat16", transpose_a=not transpose_a)
            return tf.cast(da, a.dtype), tf.cast(db, b.dtype)

        return out, grad

    return mm(a, b)
