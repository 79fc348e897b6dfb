"""The video modality: next-frame generators (ConvLSTM, a convolutional window model) on Moving MNIST."""
