"""tf.distribute strategies by flag name, and which worker this process is."""

import tensorflow as tf

from common.training.config import STRATEGIES


def make_strategy(name):
    """Returns the tf.distribute strategy for a --strategy flag value.

    "mirrored" uses every GPU, or every logical CPU when there is no GPU (so it can be
    tested with two logical CPU devices). "multi_worker" reads TF_CONFIG.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        if gpus:
            return tf.distribute.MirroredStrategy(devices=[d.name for d in gpus])
        # On CPUs, reduce through one device: collective ops on logical CPUs can run in
        # different orders on the two replicas and abort.
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(
            devices=cpus, cross_device_ops=tf.distribute.ReductionToOneDevice())
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")


def in_cluster(strategy):
    """Whether this process is one task of a multi-worker cluster (TF_CONFIG names its task)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    return resolver is not None and bool(resolver.task_type)


def worker_info(strategy):
    """(is_chief, task_id) for the current process under `strategy`."""
    if not in_cluster(strategy):
        return True, 0
    resolver = strategy.cluster_resolver
    task_type, task_id = resolver.task_type, resolver.task_id or 0
    chief = task_type == "chief" or (task_type == "worker" and task_id == 0
                                     and "chief" not in resolver.cluster_spec().as_dict())
    return chief, task_id
