# One-shot model builder: Ultralytics export (CPU torch) + trtexec from the SAME tritonserver image
# as the server, so that model.plan matches the server's TensorRT version.
ARG TRITON_IMAGE=nvcr.io/nvidia/tritonserver:26.06-py3
FROM ${TRITON_IMAGE}

RUN python3 -m pip install --no-cache-dir --break-system-packages \
        --index-url https://download.pytorch.org/whl/cpu "torch==2.14.1" "torchvision==0.29.1" \
 && python3 -m pip install --no-cache-dir --break-system-packages \
        "ultralytics==8.4.190" "onnx>=1.16" "onnxslim>=0.1.59" "nvidia-dali-cuda120==2.4.0"

COPY pyproject.toml README.md /opt/yolo26-triton/
COPY src /opt/yolo26-triton/src
# The repository templates (configs, model.py files): Kubernetes' model-builder Job copies them onto
# the empty model volume before `triton-detect build` (deploy/kubernetes/base/model-builder.yaml).
COPY model_repository /opt/yolo26-triton/model_repository
RUN python3 -m pip install --no-cache-dir --break-system-packages --no-deps /opt/yolo26-triton
ENV PATH="/usr/src/tensorrt/bin:${PATH}"
WORKDIR /workspace
