"""The sections of an image generator in params.yaml (``generators.<name>``, ``modality: image``), validated by
pydantic with unknown keys rejected by name; the shared sections and the reader are :mod:`genforge.core.config`'s."""

from __future__ import annotations

import warnings
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, Field, model_validator

from genforge.core.config import GateRule, GeneratorBase, Register, SearchBase, Section

Width = Annotated[int, Field(ge=1)]


class FeatureNet(Section):
    """The domain feature network (:mod:`genforge.image.features`), trained once per dataset by the preprocess stage
    and reused by every generator of the same data and settings."""

    widths: list[Width] = Field(min_length=2, max_length=2)  # the two convolution blocks' widths
    feature_dim: int = Field(ge=2)  # width of the penultimate layer, the features of FID, KID, coverage
    epochs: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    learning_rate: float = Field(gt=0)


class Preprocess(Section):
    format: Literal["idx", "folder"]  # idx: MNIST's IDX pairs | folder: a folder of image files, one per image
    channels: Literal[1, 3]  # 1: grayscale (luma) | 3: RGB; alpha is composited over white
    size: list[Width] = Field(min_length=2, max_length=2)  # [height, width] in pixels
    fit: Literal["resize", "crop"]  # folder: resize to size, or centre-crop to its aspect ratio then resize
    corrupt: Literal["skip", "refuse"]  # folder: a file that does not decode is skipped (and counted) or refused
    val_fraction: float = Field(gt=0, lt=0.5)  # share of the training images carved out for validation (by seed)
    test_fraction: float = Field(gt=0, lt=0.5)  # folder: share of the images held out for testing (idx: MNIST's own)
    shard_images: int = Field(ge=1)  # images per .npy shard of a split (genforge.image.shards)
    feature_net: FeatureNet


class Vae(Section):
    decoder: Literal["conv", "mlp"]  # mlp: dense sigmoid layers (the seed's multilayer perceptron)
    likelihood: Literal["bernoulli", "gaussian"]
    sigma: float = Field(gt=0)  # gaussian: the decoder's standard deviation, in [0, 1] pixel units
    mlp_hidden: list[Width] = Field(min_length=1)  # decoder mlp: width of each hidden layer


class Gan(Section):
    dropout: float = Field(ge=0, lt=1)  # in the discriminator


class Diffusion(Section):
    timesteps: int = Field(ge=2)  # DDPM's T
    schedule: Literal["linear", "cosine"]  # Ho et al. (2020) | Nichol & Dhariwal (2021)
    sampling_steps: int = Field(ge=1)  # DDIM steps at generation


class Train(Section):
    arch: Literal["vae", "gan", "diffusion"]
    conditional: bool  # condition on the class label (Mirza & Osindero 2014); a folder's labels are its subfolders
    latent_dim: int = Field(ge=1)  # vae, gan: width of the latent noise
    widths: list[Width] = Field(min_length=1)  # one stride-2 block per width (the image size must halve that often)
    vae: Vae
    gan: Gan
    diffusion: Diffusion
    batch_size: int = Field(ge=1)
    learning_rate: float = Field(gt=0)
    beta_1: float = Field(ge=0, lt=1)  # Adam's first-moment decay (DCGAN: 0.5)
    ema_momentum: float = Field(ge=0, lt=1)  # > 0: train on, validate and ship averaged weights (diffusion: 0.999)
    temperature: float = Field(gt=0)  # vae, gan: scale of the latent draw at generation (1 = the prior)
    precision: Literal["float32", "mixed_bfloat16", "mixed_float16"]
    xla: bool
    intra_op_threads: int = Field(ge=0)
    inter_op_threads: int = Field(ge=0)
    epochs: int = Field(ge=0)
    steps_per_epoch: int = Field(ge=0)  # 0 = one pass over the training split
    patience: int = Field(ge=1)  # epochs without a better val loss before stopping (gan: not watched)
    val_batches: int = Field(ge=1)
    checkpoint_steps: int = Field(ge=0)
    grid_images: int = Field(ge=0)  # the fixed-seed sample grid logged after each epoch (0 = none)


class Prune(Section):
    sparsity: float = Field(ge=0, lt=1)  # share of zeros in every kernel; 0 = no pruning
    steps: int = Field(ge=1)  # fine-tuning steps (vae, diffusion; the gan is pruned at once)
    schedule_steps: int = Field(ge=1)  # steps over which the sparsity rises to `sparsity`
    frequency: int = Field(ge=1)  # steps between mask updates
    power: float = Field(gt=0)  # exponent of the polynomial schedule (Zhu & Gupta 2018: 3)
    learning_rate: float = Field(gt=0)  # Adam's rate of the fine-tune

    @model_validator(mode="after")
    def _schedule_fits(self) -> Prune:
        if self.schedule_steps > self.steps:
            raise ValueError(f"prune.schedule_steps ({self.schedule_steps}) must be at most prune.steps "
                             f"({self.steps})")
        return self


class Optimize(Section):
    method: Literal["none", "pruned", "litert_float16", "litert_int8"]  # the variant shipped and evaluated
    prune: Prune
    litert: list[Literal["float32", "float16", "int8"]]  # LiteRT variants of the generator network, each measured
    num_samples: int = Field(ge=2)  # samples each variant is scored on (FID, KID)


class Evaluate(Section):
    num_samples: int = Field(ge=2)  # generated images scored, and as many test images
    kid_subsets: int = Field(ge=1)
    kid_subset_size: int = Field(ge=2)
    k: int = Field(ge=1)  # neighbours of precision, recall, density and coverage (Naeem et al. 2020: 5)
    memorization_alpha: float = Field(gt=0, lt=1)  # Carlini et al. (2023): memorized when d1 < alpha * d_k
    memorization_k: int = Field(ge=2)  # the n nearest training images whose mean distance is the yardstick
    memorization_samples: int = Field(ge=1)  # samples checked against every training image (pixel distances)
    pairs: int = Field(ge=1)  # closest sample-training pairs shown
    grid_images: int = Field(ge=1)  # the sample grid of the report
    speed_batch: int = Field(ge=2)
    latency_runs: int = Field(ge=3)
    seeds: int = Field(ge=1)  # sampling seeds whose FID spread is the stability figure
    collapse_loss: float = Field(ge=0)  # gan: a discriminator loss below this in the last epoch counts as collapse
    gate: list[GateRule] = Field(min_length=1)


class Search(SearchBase):
    """The search of an image generator: over keys of :class:`Train`."""

    train_model: ClassVar[type[BaseModel]] = Train


with warnings.catch_warnings():
    # the `register` section's name is also ABCMeta.register (a class method, not an instance attribute)
    warnings.filterwarnings("ignore", message='Field name "register"', category=UserWarning)

    class ImageGenerator(GeneratorBase):
        """An image generator of params.yaml ``generators``: one section per stage."""

        modality: Literal["image"]
        preprocess: Preprocess
        train: Train
        optimize: Optimize
        evaluate: Evaluate
        register: Register
        search: Search | None = None

        @model_validator(mode="after")
        def _fits(self) -> ImageGenerator:
            h, w = self.preprocess.size
            # one halving per width; the diffusion U-Net halves between its widths
            halvings = len(self.train.widths) - (self.train.arch == "diffusion")
            if h % 2 ** halvings or w % 2 ** halvings:
                raise ValueError(f"train.widths: {halvings} halvings need preprocess.size ({h}x{w}) divisible "
                                 f"by {2 ** halvings}; resize the images or use fewer widths")
            if self.evaluate.kid_subset_size > self.evaluate.num_samples:
                raise ValueError(f"evaluate.kid_subset_size ({self.evaluate.kid_subset_size}) exceeds "
                                 f"evaluate.num_samples ({self.evaluate.num_samples})")
            return self
