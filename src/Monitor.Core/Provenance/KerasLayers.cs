namespace Monitor.Core.Provenance;

/// <summary>
/// The layer (and model, and RNN cell) class names Keras 2 and 3 deserialise from their own code. A Keras 2 HDF5
/// config names a layer by class alone (no module before Keras 2.13), so any other name is a custom layer: loading
/// the model needs, and runs, code registered under that name.
/// </summary>
internal static class KerasLayers
{
    public static readonly HashSet<string> BuiltIn = new(StringComparer.Ordinal)
    {
        // models
        "Sequential", "Functional", "Model",
        // core
        "InputLayer", "Dense", "EinsumDense", "Activation", "Embedding", "Masking", "Lambda", "Identity", "TFOpLambda",
        "SlicingOpLambda", "TensorFlowOpLayer", "DenseFeatures", "SequenceFeatures", "RandomFourierFeatures",
        // convolution
        "Conv1D", "Conv2D", "Conv3D", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "Convolution1D", "Convolution2D",
        "Convolution3D", "Convolution1DTranspose", "Convolution2DTranspose", "Convolution3DTranspose", "SeparableConv1D",
        "SeparableConv2D", "SeparableConvolution1D", "SeparableConvolution2D", "DepthwiseConv1D", "DepthwiseConv2D",
        "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "LocallyConnected1D", "LocallyConnected2D",
        // pooling
        "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "MaxPool1D", "MaxPool2D", "MaxPool3D", "AveragePooling1D",
        "AveragePooling2D", "AveragePooling3D", "AvgPool1D", "AvgPool2D", "AvgPool3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
        "GlobalMaxPooling3D", "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPool3D", "GlobalAveragePooling1D",
        "GlobalAveragePooling2D", "GlobalAveragePooling3D", "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAvgPool3D",
        // recurrent
        "RNN", "SimpleRNN", "GRU", "LSTM", "SimpleRNNCell", "GRUCell", "LSTMCell", "StackedRNNCells", "PeepholeLSTMCell",
        "CuDNNGRU", "CuDNNLSTM", "Bidirectional", "TimeDistributed",
        // normalisation and regularisation
        "BatchNormalization", "SyncBatchNormalization", "LayerNormalization", "UnitNormalization", "GroupNormalization",
        "SpectralNormalization", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianDropout",
        "GaussianNoise", "AlphaDropout", "ActivityRegularization",
        // attention
        "Attention", "AdditiveAttention", "MultiHeadAttention", "GroupQueryAttention",
        // reshaping
        "Reshape", "Flatten", "RepeatVector", "Permute", "Cropping1D", "Cropping2D", "Cropping3D", "UpSampling1D", "UpSampling2D",
        "UpSampling3D", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D",
        // merging
        "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
        // activation layers
        "ReLU", "Softmax", "LeakyReLU", "PReLU", "ELU", "ThresholdedReLU",
        // preprocessing
        "TextVectorization", "Normalization", "Discretization", "CategoryEncoding", "CategoryCrossing", "Hashing", "HashedCrossing",
        "StringLookup",
        "IntegerLookup", "Resizing", "Rescaling", "CenterCrop", "RandomCrop", "RandomFlip", "RandomTranslation", "RandomRotation",
        "RandomZoom", "RandomHeight", "RandomWidth", "RandomContrast", "RandomBrightness",
    };
}
