# The production server: NVIDIA's tritonserver image (DALI, TensorRT and Python backends) plus what
# the Python-backend model.py files import: the project's shared ops package, CuPy for the GPU
# postprocess, and onnxruntime for the CPU profile (--model-config-name=cpu). The image's facts
# (release, CUDA, DALI, paths) live in src/yolo26_triton/export/production_image.toml; the ARG defaults
# below must equal them (tests/unit/test_production_image.py).
ARG TRITON_IMAGE=nvcr.io/nvidia/tritonserver:26.06-py3
FROM ${TRITON_IMAGE}

# --break-system-packages: the Python backend stub embeds the image's system Python (PEP 668), so
# the packages must go there, not into a venv. CuPy for CUDA 13 already comes with tritonfrontend[all];
# naming it keeps the GPU postprocess working should a release drop it.
ARG CUPY_PACKAGE=cupy-cuda13x
RUN python3 -m pip install --no-cache-dir --break-system-packages "${CUPY_PACKAGE}>=13" "onnxruntime>=1.18"

# One DALI: the DALI backend's own (2.1.1 in 26.06), which the image puts on PYTHONPATH for python3.
# The .pth file shows the same folder to every interpreter of the system Python, the Python backend's
# stubs included, whether or not they read PYTHONPATH: the CPU profile's preprocess (model.py) and the
# GPU profile's (dali.py, serialized by the backend at load time) run the same DALI. No pip DALI.
ARG DALI_PATH=/opt/tritonserver/backends/dali/wheel/dali
RUN test -d "${DALI_PATH}/nvidia/dali" \
 && echo "${DALI_PATH}" > "$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/tritonserver-dali.pth" \
 && env -u PYTHONPATH python3 -c "import nvidia.dali as dali; print('DALI', dali.__version__, dali.__file__)"

COPY pyproject.toml README.md /opt/yolo26-triton/
COPY src /opt/yolo26-triton/src
COPY client /opt/yolo26-triton/client
# Both distributions of the yolo26_triton namespace (client/ brings the contract the ops use), --no-deps:
# the client's, builder's and tests' dependencies are not needed inside the server.
RUN python3 -m pip install --no-cache-dir --break-system-packages --no-deps /opt/yolo26-triton/client /opt/yolo26-triton
# A one-pixel JPEG through the whole ensemble: the healthcheck (see docker-compose.yml).
COPY container/healthcheck-request.json /opt/yolo26-triton/healthcheck-request.json
