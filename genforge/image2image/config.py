"""The sections of an image-to-image generator in params.yaml (``generators.<name>``, ``modality: image2image``),
validated by pydantic with unknown keys rejected by name; the shared sections and the reader are
:mod:`genforge.core.config`'s."""

from __future__ import annotations

import warnings
from pathlib import PurePosixPath
from typing import ClassVar, Literal

from pydantic import BaseModel, Field, model_validator

from genforge.core.config import GateRule, GeneratorBase, Register, SearchBase, Section

SCRIPTS = Literal["ascii", "latin1", "greek", "cyrillic"]


class Preprocess(Section):
    format: Literal["glyphs", "edges", "folder"]  # glyphs: characters rendered in two typefaces of the source's fonts |
    # edges: drawings of the source paired with their Canny edge maps (edges -> drawing) |
    # folder: paired images A/<name> -> B/<name> of the source (folders named by input_folder, target_folder)
    size: int = Field(ge=4)  # image height and width in pixels: a power of two (the U-Net halves it down to 1x1)
    val_fraction: float = Field(gt=0, lt=0.5)  # share of the pairs (glyphs: of the characters) for validation
    test_fraction: float = Field(gt=0, lt=0.5)  # share of the pairs (glyphs: of the characters) for testing
    source_face: str = ""  # glyphs: the input typeface, the font file's name without its suffix
    target_face: str = ""  # glyphs: the output typeface
    target_faces: list[str] = Field(default_factory=list)  # glyphs, zi2zi: the output typefaces one generator draws,
    # chosen by a face embedding (target_face must be one: a request that names no face gets it); [] = target_face alone
    scripts: list[SCRIPTS] = Field(default_factory=list)  # glyphs: the character ranges drawn from
    point_size: int = Field(default=40, ge=4)  # glyphs: the font size in pixels per em
    homoglyph_tolerance: float = Field(default=0.2, ge=0)  # glyphs: characters whose glyphs in either face differ by
    # at most this share of their ink (Latin A and Greek Α, I and l in a sans face) are one character for the split
    drawings_folder: str = ""  # edges: the drawings' folder under the source ("" = the source); its subfolders are
    # the categories that the feature network of FID and KID tells apart
    exclude: list[str] = Field(default_factory=list)  # edges: drawings left out, fnmatch patterns of their paths
    # under drawings_folder (* also matches /)
    canny_sigma: float = Field(default=1.0, gt=0)  # edges: the Canny detector's Gaussian, in resized pixels
    max_pixels: int = Field(default=4_000_000, ge=1)  # edges: drawings whose header declares more pixels are left out
    # (named in dataset.json): decoding them would take most of the stage's time and memory
    input_folder: str = "A"  # folder: the inputs' folder under the source
    target_folder: str = "B"  # folder: the targets' folder (the same file names)

    @model_validator(mode="after")
    def _fits(self) -> Preprocess:
        if self.size & (self.size - 1):
            raise ValueError(f"preprocess.size ({self.size}) must be a power of two: the U-Net halves it to 1x1")
        if self.format == "glyphs" and not (self.source_face and self.target_face and self.scripts):
            raise ValueError("preprocess.format glyphs needs source_face, target_face and scripts")
        if self.format == "edges":
            self._check_edges()
        if self.target_faces:
            self._check_target_faces()
        return self

    def _check_edges(self) -> None:
        if self.canny_sigma > self.size / 8:
            raise ValueError(f"preprocess.canny_sigma ({self.canny_sigma}) blurs a {self.size}-pixel drawing past "
                             f"its edges (and slows Canny down): at most size / 8 = {self.size / 8}")
        folder = PurePosixPath(self.drawings_folder)
        if folder.is_absolute() or ".." in folder.parts:
            raise ValueError(f"preprocess.drawings_folder ({self.drawings_folder}) must be a path inside the source, "
                             "relative and without '..'")

    def _check_target_faces(self) -> None:
        faces = self.target_faces
        if self.format != "glyphs":
            raise ValueError(f"preprocess.target_faces is for format glyphs (got format {self.format}); remove it")
        if len(faces) < 2 or any(not f.strip() or f != f.strip() for f in faces):  # noqa: PLR2004
            raise ValueError(f"preprocess.target_faces needs two or more face names without surrounding spaces "
                             f"(got {faces}); for one face, set target_face and leave target_faces []")
        if self.target_face not in faces:
            raise ValueError(f"preprocess.target_faces ({', '.join(faces)}) must hold target_face "
                             f"({self.target_face or 'none'}), the face of requests that name none")
        if len({f.lower() for f in faces}) != len(faces):
            raise ValueError(f"preprocess.target_faces names a face twice: {', '.join(faces)}")


class Train(Section):
    arch: Literal["pix2pix", "unet_l1"]  # Pix2Pix (U-Net and PatchGAN) | the U-Net alone on the L1 loss
    filters: int = Field(ge=1)  # the U-Net's first width (64 in the paper), doubling per block up to max_filters
    max_filters: int = Field(ge=1)  # 512 in the paper
    disc_filters: int = Field(ge=1)  # the PatchGAN's first width (64 in the paper)
    disc_layers: int = Field(ge=1)  # the PatchGAN's stride-2 layers (3: 70x70 patches at 256 px)
    l1_weight: float = Field(ge=0)  # lambda of the L1 term beside the adversarial loss (100 in the paper)
    dropout: float = Field(ge=0, lt=1)  # dropout in the 3 deepest decoder blocks (0.5 in the paper)
    face_embedding: int = Field(ge=1)  # with preprocess.target_faces (zi2zi): the target-face embedding's width,
    # joined to the U-Net's 1x1 bottleneck
    learning_rate: float = Field(gt=0)  # Adam's rate of both networks (2e-4 in the paper)
    beta_1: float = Field(ge=0, lt=1)  # Adam's beta_1 (0.5 in the paper)
    ema_momentum: float = Field(ge=0, lt=1)  # > 0: validate and ship an exponential moving average of the
    # generator's weights (of the U-Net's alone in Pix2Pix; genforge.core.averaging)
    batch_size: int = Field(ge=1)  # pairs per batch (1 in the paper)
    jitter: int = Field(ge=0)  # augmentation: input and target shifted together by up to this many pixels
    baseline: bool  # also train the L1-only U-Net of the same widths and steps, the evaluate stage's baseline
    intra_op_threads: int = Field(ge=0)
    inter_op_threads: int = Field(ge=0)
    epochs: int = Field(ge=0)
    steps_per_epoch: int = Field(ge=1)
    patience: int = Field(ge=1)
    checkpoint_steps: int = Field(ge=0)
    sample_pairs: int = Field(ge=0)  # validation pairs drawn as input | output | target after each epoch


class Prune(Section):
    sparsity: float = Field(ge=0, lt=1)  # share of zeros in every generator kernel; 0 = no pruning
    steps: int = Field(ge=1)  # fine-tuning steps
    schedule_steps: int = Field(ge=1)
    frequency: int = Field(ge=1)
    power: float = Field(gt=0)
    learning_rate: float = Field(gt=0)

    @model_validator(mode="after")
    def _schedule_fits(self) -> Prune:
        if self.schedule_steps > self.steps:
            raise ValueError(f"prune.schedule_steps ({self.schedule_steps}) must be at most prune.steps "
                             f"({self.steps})")
        return self


class Optimize(Section):
    method: Literal["none", "pruned"]  # the variant shipped and evaluated
    prune: Prune
    litert: list[Literal["float32", "float16", "int8"]]  # LiteRT exports of the dense generator, each measured


class Evaluate(Section):
    samples: int = Field(ge=1)  # test triplets shown at each of best, median and worst SSIM
    feature_epochs: int = Field(ge=1)  # glyphs: epochs of the typeface classifier whose features FID and KID use
    kid_subsets: int = Field(ge=1)
    speed_batch: int = Field(ge=2)  # the larger batch timed besides batch 1
    latency_runs: int = Field(ge=3)
    gate: list[GateRule] = Field(min_length=1)


class Search(SearchBase):
    """The search of an image-to-image generator: over keys of :class:`Train`."""

    train_model: ClassVar[type[BaseModel]] = Train


with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message='Field name "register"', category=UserWarning)

    class Image2ImageGenerator(GeneratorBase):
        """An image-to-image generator of params.yaml ``generators``: one section per stage."""

        modality: Literal["image2image"]
        preprocess: Preprocess
        train: Train
        optimize: Optimize
        evaluate: Evaluate
        register: Register
        search: Search | None = None

        @model_validator(mode="after")
        def _patches_fit(self) -> Image2ImageGenerator:
            # the PatchGAN's two padded 4x4 convolutions take s x s features to (s - 2) x (s - 2) logits
            left = self.preprocess.size >> self.train.disc_layers
            if left < 4:  # noqa: PLR2004
                raise ValueError(f"train.disc_layers ({self.train.disc_layers}) halves preprocess.size "
                                 f"({self.preprocess.size}) to {max(left, 0)} px, too small for the PatchGAN's last "
                                 f"two 4x4 convolutions: lower it so that at least 4 px are left")
            return self
