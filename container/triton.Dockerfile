# The production server: NVIDIA's tritonserver image (DALI, TensorRT and Python backends) plus what
# the Python-backend model.py files import: the project's shared ops package, CuPy for the GPU
# postprocess, and onnxruntime + DALI's Python module for the CPU profile (--model-config-name=cpu).
ARG TRITON_IMAGE=nvcr.io/nvidia/tritonserver:26.06-py3
FROM ${TRITON_IMAGE}

# CUDA 13 in 26.xx images. --break-system-packages: the Python backend stub embeds the image's
# system Python (PEP 668), so the packages must go there, not into a venv.
ARG CUPY_PACKAGE=cupy-cuda13x
RUN python3 -m pip install --no-cache-dir --break-system-packages \
        "${CUPY_PACKAGE}>=14" "onnxruntime>=1.18" "nvidia-dali-cuda120==2.4.0"

COPY pyproject.toml README.md /opt/yolo26-triton/
COPY src /opt/yolo26-triton/src
# --no-deps: the client, builder and test dependencies are not needed inside the server.
RUN python3 -m pip install --no-cache-dir --break-system-packages --no-deps /opt/yolo26-triton
# A one-pixel JPEG through the whole ensemble: the healthcheck (see docker-compose.yml).
COPY container/healthcheck-request.json /opt/yolo26-triton/healthcheck-request.json
