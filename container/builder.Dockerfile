# One-shot model builder (`triton-detect build --engine`): Ultralytics export on CPU torch, then the
# TensorRT plan through Ultralytics' onnx2engine, FROM the SAME tritonserver image as the server so
# that model.plan is built by the server's TensorRT version. Each package below is something
# `triton-detect build` imports; tests/unit/test_container_imports.py derives the image's packages
# from these lines and runs the real build with exactly those.
ARG TRITON_IMAGE=nvcr.io/nvidia/tritonserver:26.06-py3
FROM ${TRITON_IMAGE}

RUN python3 -m pip install --no-cache-dir --break-system-packages \
        --index-url https://download.pytorch.org/whl/cpu "torch==2.14.1" "torchvision==0.29.1"

# Ultralytics requires opencv-python, which needs libGL.so.1: the image has none, and `import cv2`
# (Ultralytics imports it at once) would fail. Its headless build is the same cv2 without GUI libraries.
# ModelOpt without its [onnx] extra (that pulls onnxruntime-gpu and cupy-cuda12x): what AutoCast imports.
# tritonclient[grpc]: the ModelConfig protobuf the build reads and writes the configs with.
RUN python3 -m pip install --no-cache-dir --break-system-packages \
        "ultralytics==8.4.190" "onnx>=1.16" "onnxslim>=0.1.59" "onnxruntime>=1.18" "pyyaml>=6" \
        "nvidia-modelopt==0.47.0" "onnx-graphsurgeon>=0.6.1" "onnxscript>=0.5" "lief>=0.16" "polygraphy>=0.49" \
        "tritonclient[grpc]==2.51.0" \
 && python3 -m pip uninstall -y --break-system-packages opencv-python \
 && python3 -m pip install --no-cache-dir --break-system-packages "opencv-python-headless>=4.6"

# TensorRT's Python module, the very version of the image's libraries ($TRT_VERSION, set by the NGC
# images), unless the image already has it: a plan loads only in the TensorRT that built it.
ARG CUDA_MAJOR=13
RUN python3 -c "import tensorrt" 2>/dev/null \
 || python3 -m pip install --no-cache-dir --break-system-packages "tensorrt-cu${CUDA_MAJOR}==${TRT_VERSION}"

COPY pyproject.toml README.md /opt/yolo26-triton/
COPY src /opt/yolo26-triton/src
COPY client /opt/yolo26-triton/client
# The repository templates (configs, model.py files): Kubernetes' model-builder Job copies them onto
# the empty model volume before `triton-detect build` (deploy/kubernetes/base/model-builder.yaml).
COPY model_repository /opt/yolo26-triton/model_repository
RUN python3 -m pip install --no-cache-dir --break-system-packages --no-deps /opt/yolo26-triton/client /opt/yolo26-triton
ENV PATH="/usr/src/tensorrt/bin:${PATH}"
WORKDIR /workspace
