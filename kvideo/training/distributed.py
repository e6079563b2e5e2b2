"""Training under any `tf.distribute` strategy: strategies, and a custom loop around
`strategy.run` for where Keras 3's `model.fit` cannot go.

Keras 3's `model.fit` fails under `MultiWorkerMirroredStrategy` (keras-team/keras#20585,
open at Keras 3.15), and its `BackupAndRestore` replays an interrupted epoch from its
first batch. `train_custom_loop` trains with the same settings as the trainer's
`model.fit` (optimizer and schedule, L2 or decoupled weight decay, mixed precision,
top-1/top-k, validation, TensorBoard, `metrics.csv`, the curves, best/last `.keras`
checkpoints) and adds:

* **Input sharding.** Every worker builds its own input pipeline through
  `distribute_datasets_from_function`; `make_clip_dataset(input_context=...)` gives each
  worker its slice of every global batch and each replica `batch_size / replicas` clips.
  A global batch holds the same clips whatever the number of workers and replicas.
* **Checkpoints that survive any worker's death.** A `tf.train.CheckpointManager` in
  `output_dir/backup/` holds the model, the optimizer, the global step and the epoch's
  running sums, every `checkpoint_steps` steps and at each epoch's end. Every worker
  saves (TensorFlow needs all of them in the save); only the chief's copy is kept, the
  others write to a local temporary folder they delete. After any worker dies, restart every
  worker (`MultiWorkerMirroredStrategy` cannot continue with a missing peer): they all
  restore the chief's last checkpoint and continue *at its step*. The input pipeline is
  a deterministic function of the seed, so skipping `step * batch_size` encoded examples
  (before decoding) puts the data where it was.
* **Chief-only output.** The chief (task "chief", or worker 0) writes logs, CSV, curves,
  `.keras` checkpoints, and runs validation; evaluation and export afterwards are on the
  chief only too (`trainer.train_and_evaluate`).

Every file goes through `tf.io.gfile`, so `output_dir` may be `gs://...`, `ram://...` or
any file system TensorFlow has.

The chief also writes `steps.csv`: the training loss of every global step and the wall
clock when it ended, each step once even across restarts.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import os
import tempfile
import time
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from kvideo.training import files
from kvideo.training.config import Experiment
from kvideo.training.files import join as _join
from kvideo.training.files import write_text as _write_text

_log = logging.getLogger(__name__)

BACKUP = "backup"
STEPS_CSV = "steps.csv"
METRICS_CSV = "metrics.csv"


def make_strategy(name: str) -> tf.distribute.Strategy:
    """ "default" (current device), "mirrored" (all local GPUs, else every logical CPU
    device), "multi_worker_mirrored" (the cluster in the ``TF_CONFIG`` environment
    variable; create it before any other TensorFlow work) or "tpu"."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        # All local GPUs; without GPUs, every logical CPU device (one unless the process
        # split the CPU with tf.config.set_logical_device_configuration).
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multi_worker_mirrored":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "strategy='multi_worker_mirrored' reads its cluster from the TF_CONFIG "
                "environment variable, which is not set (see README: multi-worker training)."
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"Unknown strategy. Received: strategy={name!r}")


def uses_custom_loop(experiment: Experiment) -> bool:
    """Whether `experiment` trains with `train_custom_loop` rather than `model.fit`.

    ``loop="auto"`` picks the custom loop where `model.fit` cannot serve: multiple
    workers (keras-team/keras#20585) and TPUs (fixed shapes, one compiled step)."""
    if experiment.loop == "auto":
        return experiment.strategy in ("multi_worker_mirrored", "tpu")
    return experiment.loop == "custom"


@dataclasses.dataclass(frozen=True)
class WorkerRole:
    """Which task this process is and whether it writes the run's files."""

    task_type: str | None
    task_id: int
    is_chief: bool

    @property
    def name(self) -> str:
        return f"{self.task_type or 'local'}-{self.task_id}"


def worker_role(strategy: tf.distribute.Strategy) -> WorkerRole:
    """The chief is task "chief", or worker 0 of a cluster without one; a single-process
    strategy is its own chief."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return WorkerRole(None, 0, True)
    task_type, task_id = resolver.task_type, int(resolver.task_id or 0)
    spec = resolver.cluster_spec().as_dict()
    chief = task_type == "chief" or (task_type == "worker" and task_id == 0 and "chief" not in spec)
    return WorkerRole(task_type, task_id, chief)


@dataclasses.dataclass
class LoopResult:
    """What `train_custom_loop` did.

    Attributes:
        model: the trained model.
        resumed_at_step: the global step the run restored (0 for a fresh start).
        steps: global steps done in all (including before a restart).
        history: per-epoch metrics rows, as written to `metrics.csv`.
    """

    model: keras.Model
    resumed_at_step: int
    steps: int
    history: list[dict]


def _read_csv(path: str) -> list[dict]:
    if not tf.io.gfile.exists(path):
        return []
    with tf.io.gfile.GFile(path, "r") as f:
        return list(csv.DictReader(io.StringIO(f.read())))


def _write_csv(path: str, rows: list[dict]) -> None:
    if not rows:
        return
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    _write_text(path, out.getvalue())


def train_custom_loop(
    experiment: Experiment,
    strategy: tf.distribute.Strategy,
    output_dir: str,
    *,
    build_and_compile: Callable[[], tuple[keras.Model, keras.optimizers.Optimizer]],
    make_train: Callable[[tf.distribute.InputContext, int], tf.data.Dataset],
    validation: tf.data.Dataset | None,
    steps_per_epoch: int,
    top_k: int | None,
    checkpoint_steps: int | None = None,
) -> LoopResult:
    """Trains for `experiment.epochs` epochs of `steps_per_epoch` global steps.

    Args:
        experiment: the run's settings (`batch_size` is the global batch).
        strategy: any `tf.distribute` strategy; every worker calls this with the same
            arguments.
        output_dir: the run's folder (a `tf.io.gfile` path, shared by all workers).
        build_and_compile: builds the model and its optimizer; called in the strategy's
            scope. The loss follows the model's outputs (logits or probabilities).
        make_train: `(input_context, skip_examples) -> per-replica training batches`,
            repeated without end, e.g. `make_clip_dataset(..., input_context=...,
            repeat=True, skip_examples=...)`.
        validation: validation batches (run on the chief, one replica), or None.
        steps_per_epoch: global steps per epoch.
        top_k: the top-k accuracy to report, or None.
        checkpoint_steps: also checkpoint every this many steps (None: at epoch ends only).

    Returns:
        A `LoopResult`.
    """
    role = worker_role(strategy)
    batch_size = experiment.batch_size
    total_steps = steps_per_epoch * experiment.epochs
    backup_dir = _join(output_dir, BACKUP)
    # Only the chief's checkpoints are kept; the others must still take part in saving.
    save_dir = backup_dir if role.is_chief else tempfile.mkdtemp(prefix=f"kvideo-{role.name}-")

    with strategy.scope():
        model, optimizer = build_and_compile()
        optimizer.build(model.trainable_variables)
        global_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        # Loss sum, top-1 hits, top-k hits and clips of the current epoch: checkpointed,
        # so an epoch resumed mid-way still reports over all of its steps.
        epoch_sums = tf.Variable(tf.zeros([4], tf.float64), trainable=False, name="epoch_sums")
    checkpoint = tf.train.Checkpoint(
        model=model,
        optimizer=optimizer,
        global_step=global_step,
        epoch_sums=epoch_sums,
        # Dropout's random state is not among the model's checkpointed variables; without
        # it a resumed run would draw other masks than an uninterrupted one.
        random_states={str(i): state for i, state in enumerate(_seed_generator_states(model))},
    )
    manager = tf.train.CheckpointManager(checkpoint, save_dir, max_to_keep=2)
    latest = tf.train.latest_checkpoint(backup_dir)
    if latest:
        checkpoint.restore(latest).assert_existing_objects_matched()
    resumed_at = int(global_step.numpy())
    if resumed_at:
        message = (
            f"Resuming the interrupted run in {output_dir} at step {resumed_at} of "
            f"{total_steps} (epoch {resumed_at // steps_per_epoch + 1}, step "
            f"{resumed_at % steps_per_epoch + 1})."
        )
        _log.warning(message)
        if role.is_chief:
            print(message, flush=True)

    from_logits = _outputs_logits(model)
    sparse_loss = keras.losses.SparseCategoricalCrossentropy(
        from_logits=from_logits, reduction=None
    )
    soft_loss = keras.losses.CategoricalCrossentropy(from_logits=from_logits, reduction=None)
    k = top_k or 1

    def loss_fn(labels, outputs):
        # Class indices, or probability targets (Mixup/CutMix, label smoothing).
        if labels.shape.rank == 2:
            return soft_loss(labels, outputs)
        return sparse_loss(labels, outputs)

    def true_class(labels):
        # For accuracy: the class of largest target, as Keras's CategoricalAccuracy.
        if labels.shape.rank == 2:
            return tf.argmax(labels, axis=-1, output_type=tf.int32)
        return tf.cast(labels, tf.int32)

    def step_fn(features, labels):
        with tf.GradientTape() as tape:
            outputs = tf.cast(model(features, training=True), tf.float32)
            per_example = loss_fn(labels, outputs)
            # The all-reduce sums gradients over replicas: scale by the global batch.
            loss = tf.reduce_sum(per_example) / batch_size
            if model.losses:  # L2 weight decay, once over all replicas
                regular = tf.add_n([tf.cast(x, tf.float32) for x in model.losses])
                loss += regular / strategy.num_replicas_in_sync
            scaled = optimizer.scale_loss(loss)
        variables = model.trainable_variables
        gradients = tape.gradient(scaled, variables)
        optimizer.apply_gradients(zip(gradients, variables, strict=True))
        labels = true_class(labels)
        top1 = tf.math.in_top_k(labels, outputs, 1)
        topk = tf.math.in_top_k(labels, outputs, k)
        return tf.stack(
            [
                tf.cast(tf.reduce_sum(per_example), tf.float64),
                tf.reduce_sum(tf.cast(top1, tf.float64)),
                tf.reduce_sum(tf.cast(topk, tf.float64)),
                tf.cast(tf.size(labels), tf.float64),
            ]
        )

    @tf.function(jit_compile=experiment.jit_compile or None)
    def replica_step(features, labels):
        return step_fn(features, labels)

    @tf.function
    def train_step(iterator):
        features, labels = next(iterator)
        sums = strategy.run(replica_step, args=(features, labels))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, sums, axis=None)

    @tf.function(reduce_retracing=True)
    def validation_step(features, labels):
        outputs = tf.cast(model(features, training=False), tf.float32)
        loss = tf.reduce_sum(loss_fn(labels, outputs))
        labels = true_class(labels)
        return tf.stack(
            [
                tf.cast(loss, tf.float64),
                tf.reduce_sum(tf.cast(tf.math.in_top_k(labels, outputs, 1), tf.float64)),
                tf.reduce_sum(tf.cast(tf.math.in_top_k(labels, outputs, k), tf.float64)),
                tf.cast(tf.size(labels), tf.float64),
            ]
        )

    def data_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        return make_train(context, resumed_at * batch_size)

    dataset = strategy.distribute_datasets_from_function(data_fn)
    iterator = iter(dataset)

    # The chief's logs. Rows after the restored step were done and lost with the kill:
    # they are dropped, so each step and epoch is listed once.
    steps_path = _join(output_dir, STEPS_CSV)
    metrics_path = _join(output_dir, METRICS_CSV)
    step_rows = [r for r in _read_csv(steps_path) if int(r["step"]) <= resumed_at]
    history = [
        r for r in _read_csv(metrics_path) if int(r["epoch"]) < resumed_at // steps_per_epoch
    ]
    writer = (
        tf.summary.create_file_writer(_join(output_dir, "logs", "train"))
        if role.is_chief
        else tf.summary.create_noop_writer()
    )
    val_writer = (
        tf.summary.create_file_writer(_join(output_dir, "logs", "validation"))
        if role.is_chief
        else tf.summary.create_noop_writer()
    )
    checkpoints_dir = _join(output_dir, "checkpoints")
    best_top1 = max((float(r["val_top1"]) for r in history if r.get("val_top1")), default=-1.0)
    if role.is_chief:
        tf.io.gfile.makedirs(checkpoints_dir)

    def save_backup(step: int) -> None:
        manager.save(checkpoint_number=step)
        if not role.is_chief:
            tf.io.gfile.rmtree(save_dir)
        else:
            _write_csv(steps_path, step_rows)

    names = ["loss", "top1"] + ([f"top{top_k}"] if top_k else [])

    def metrics_of(sums: np.ndarray, prefix: str = "") -> dict:
        count = max(sums[3], 1.0)
        values = {"loss": sums[0] / count, "top1": sums[1] / count}
        if top_k:
            values[f"top{top_k}"] = sums[2] / count
        return {prefix + name: float(values[name]) for name in names}

    step = resumed_at
    started = time.time()
    with _remapper_off():
        while step < total_steps:
            epoch = step // steps_per_epoch
            sums = train_step(iterator).numpy()
            step += 1
            epoch_sums.assign_add(sums)
            global_step.assign(step)
            step_rows.append(
                {
                    "step": step,
                    "loss": repr(float(sums[0] / max(sums[3], 1))),
                    "time": f"{time.time():.3f}",
                }
            )
            if step % steps_per_epoch:  # mid-epoch
                if checkpoint_steps and step % checkpoint_steps == 0:
                    save_backup(step)
                continue
            row = {"epoch": epoch, **metrics_of(epoch_sums.numpy())}
            row["learning_rate"] = float(_current_lr(optimizer))
            if validation is not None and role.is_chief:
                val = np.zeros(4)
                for features, labels in validation:
                    val += validation_step(features, labels).numpy()
                row.update(metrics_of(val, "val_"))
            epoch_sums.assign(tf.zeros([4], tf.float64))
            history.append(row)
            if role.is_chief:
                with writer.as_default(step=epoch):
                    for name in names:
                        tf.summary.scalar(f"epoch_{name}", row[name])
                    tf.summary.scalar("epoch_learning_rate", row["learning_rate"])
                with val_writer.as_default(step=epoch):
                    for name in names:
                        if f"val_{name}" in row:
                            tf.summary.scalar(f"epoch_{name}", row[f"val_{name}"])
                _write_csv(metrics_path, history)
                files.save_model(model, _join(checkpoints_dir, "last.keras"))
                if "val_top1" in row and row["val_top1"] > best_top1:
                    best_top1 = row["val_top1"]
                    files.save_model(model, _join(checkpoints_dir, "best_validation.keras"))
                from kvideo.training.callbacks import plot_training_curves

                plot_training_curves(metrics_path, _join(output_dir, "training_curves.png"))
                shown = " - ".join(
                    f"{key}: {value:.4f}" for key, value in row.items() if key != "epoch"
                )
                print(f"Epoch {epoch + 1}/{experiment.epochs} - step {step} - {shown}", flush=True)
            save_backup(step)
    _log.info("%s trained %d steps in %.1f s.", role.name, step - resumed_at, time.time() - started)
    writer.close()
    val_writer.close()
    return LoopResult(model=model, resumed_at_step=resumed_at, steps=step, history=history)


def _seed_generator_states(model: keras.Model) -> list[tf.Variable]:
    """The state variables of every layer's random seed generator (Dropout's), in layer
    order."""
    states = []
    for layer in model._flatten_layers(include_self=True):  # noqa: SLF001
        for generator in getattr(layer, "_seed_generators", []):
            states.append(generator.state.value)
    return states


def wait_for_all(strategy: tf.distribute.Strategy) -> None:
    """Returns once every worker has called it (an all-reduce of a constant); at once
    for a single worker.

    Workers other than the chief wait here at the end of a run while the chief
    evaluates and exports: a worker that exits earlier is reported as crashed by
    TensorFlow's coordination service (``tasks are unhealthy``)."""
    if strategy.extended._in_multi_worker_mode():  # noqa: SLF001  (no public test)

        @tf.function
        def gather():
            ones = strategy.run(lambda: tf.constant(1.0))
            return strategy.reduce(tf.distribute.ReduceOp.SUM, ones, axis=None)

        gather()


def _outputs_logits(model: keras.Model) -> bool:
    from kvideo.models import outputs_logits

    return outputs_logits(model)


def _current_lr(optimizer: keras.optimizers.Optimizer) -> float:
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    rate = inner.learning_rate
    return float(keras.ops.convert_to_numpy(rate))


class _remapper_off:
    """Grappler's remapper off while training (see `trainer._quiet_training`)."""

    def __enter__(self):
        self._options = tf.config.optimizer.get_experimental_options()
        tf.config.optimizer.set_experimental_options({"remapping": False})

    def __exit__(self, *exc):
        tf.config.optimizer.set_experimental_options(
            {"remapping": self._options.get("remapping", True)}
        )


def steps_logged(output_dir: str) -> list[tuple[int, float]]:
    """`(step, training loss)` of every step in a run's `steps.csv`."""
    return [(int(r["step"]), float(r["loss"])) for r in _read_csv(_join(output_dir, STEPS_CSV))]
