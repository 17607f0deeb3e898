"""One worker of the MultiWorkerMirroredStrategy test: runs the Trainer's `run_fn` as the TFX Trainer does on every
worker of a cluster (the same FnArgs everywhere; TF_CONFIG set by the test) and saves the generator weights it
ended with to `<weights_dir>/worker-<index>.npy` for the test to compare.

FnArgs is stood in for by a namespace with the same attribute names (run_fn only reads attributes), which spares
each worker the import of TFX; the end-to-end test runs `run_fn` under the real Trainer.

Usage: python tests/pipeline/mwms_worker.py EXAMPLES_URI MODEL_URI MODEL_RUN_URI WEIGHTS_DIR STEPS
"""

import json
import os
import sys
import types

if __name__ == "__main__":
    examples, model_uri, model_run, weights_dir, steps = sys.argv[1:6]
    import numpy as np

    from i2i_keras.config import load_config
    from i2i_keras.training import loop
    from pipeline import trainer_module

    task = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    real_run = loop.run

    def recording_run(*args, **kwargs):
        result = real_run(*args, **kwargs)
        values = {f"v{i:04d}": np.asarray(v.numpy()) for i, v in enumerate(result.model.generator_variables())}
        np.savez(os.path.join(weights_dir, f"worker-{task}.npz"), **values)
        return result

    loop.run = recording_run
    # Batch 1 per worker, no intermediate samples or checkpoints, one evaluation batch: the test is about
    # synchronisation, and stays small.
    cfg = load_config("configs/tiny/pix2pix.yaml",
                      overrides=["train.batch_size=1", "train.sample_every=0", "train.checkpoint_every=0",
                                 "train.eval_batches=1"])
    trainer_module.run_fn(types.SimpleNamespace(
        train_files=[os.path.join(examples, "Split-train", "*")],
        eval_files=[os.path.join(examples, "Split-eval", "*")],
        train_steps=int(steps),
        serving_model_dir=os.path.join(model_uri, "Format-Serving"),
        model_run_dir=model_run,
        custom_config={"config": cfg.to_dict()},
    ))
    print(f"worker {task} done", flush=True)
