"""Custom Keras layers for kvideo models.

The ResNet-3D family needs none: it is built from stock ``keras.layers`` that lower to
builtin TFLite ops (Conv3D, ZeroPadding3D, BatchNormalization, ReLU, Add,
GlobalAveragePooling3D, Dense). Avoid ``MaxPool3D`` (Select TF op in TFLite).
"""

__all__: list[str] = []
