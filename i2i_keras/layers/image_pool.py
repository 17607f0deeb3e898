import keras
from keras import ops


@keras.saving.register_keras_serializable(package="i2i_keras")
class ImagePool(keras.layers.Layer):
    """History buffer of generated images for discriminator updates (Shrivastava et al. 2017; CycleGAN sec. 4).

    The buffer is layer state (non-trainable variables), not a Python list, so it works inside `tf.function`, is
    saved in `.keras` files and checkpoints, and survives `--resume`. While the pool is not full every image is
    stored and returned; afterwards each image is, with probability 1/2, swapped for a random stored one (which is
    returned) or passed through unchanged.

    Under MirroredStrategy each replica queries with its own fakes; the stored state follows the first replica.

    Args:
        pool_size: number of stored images; 0 disables the pool (images pass through).
        seed: seed of the pool's random choices.
    """

    def __init__(self, pool_size=50, seed=None, **kwargs):
        super().__init__(**kwargs)
        if pool_size < 0:
            raise ValueError(f"`pool_size` must be >= 0. Received: pool_size={pool_size!r}")
        self.pool_size = int(pool_size)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        if self.pool_size and any(d is None for d in input_shape[1:]):
            raise ValueError(f"ImagePool needs a static image shape. Received: input_shape={input_shape}")
        shape = (max(self.pool_size, 1),) + tuple(input_shape[1:])
        self.images = self.add_weight(shape=shape, initializer="zeros", trainable=False, dtype="float32",
                                      aggregation="only_first_replica", autocast=False, name="images")
        self.count = self.add_weight(shape=(), initializer="zeros", trainable=False, dtype="int32",
                                     aggregation="only_first_replica", name="count")

    def call(self, images):
        if self.pool_size == 0:
            return images
        batch = images.shape[0]
        if batch is None:
            raise ValueError("ImagePool needs a static batch size (batch with drop_remainder=True).")
        in_dtype = images.dtype
        images = ops.cast(images, "float32")
        outputs = []
        for i in range(batch):
            image = images[i]
            pool = self.images.value
            count = self.count.value
            not_full = count < self.pool_size
            u = keras.random.uniform((), seed=self.seed_generator)
            idx = keras.random.randint((), 0, self.pool_size, seed=self.seed_generator)
            swap = ops.logical_and(ops.logical_not(not_full), u > 0.5)
            slot = ops.where(not_full, count, idx)
            stored = ops.take(pool, slot, axis=0)
            outputs.append(ops.where(swap, stored, image))
            updated = ops.scatter_update(pool, ops.reshape(slot, (1, 1)), image[None])
            self.images.assign(ops.where(ops.logical_or(not_full, swap), updated, pool))
            self.count.assign(ops.minimum(count + 1, self.pool_size))
        return ops.cast(ops.stack(outputs, axis=0), in_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "seed": self.seed}
