"""Image-to-image translation: Pix2Pix (Isola et al. 2017) on paired images, a modality package on the seam."""
