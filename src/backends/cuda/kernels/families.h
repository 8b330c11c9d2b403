// One registration function per CUDA kernel family; each lives in its family's files.
#pragma once

#include "backends/cuda/gpu_kernel.h"

namespace kiln::cuda {

void registerCopyKernels(GpuKernelRegistry& r);          // copy.cu: Identity/Reshape/..., host<->device
void registerElementwiseKernels(GpuKernelRegistry& r);   // elementwise*.cu
void registerDataMovementKernels(GpuKernelRegistry& r);  // data_*.cu
void registerReduceNormKernels(GpuKernelRegistry& r);    // reduce_*.cu, norm_*.cu, pool_*.cu
void registerBlasDnnKernels(GpuKernelRegistry& r);       // calls the four below
void registerBlasKernels(GpuKernelRegistry& r);          // blas_*: cuBLASLt MatMul/Gemm/FusedMatMul
void registerCutlassKernels(GpuKernelRegistry& r);       // blas_cutlass: FusedMatMul as a Hopper CUTLASS GEMM
void registerMatMulLayerNormKernels(GpuKernelRegistry& r);  // matmul_layernorm: MatMulLayerNorm unfused
void registerAttentionKernels(GpuKernelRegistry& r);     // attention_*: fused attention
void registerQkvAttentionKernels(GpuKernelRegistry& r);  // qkv_attention_op: projection + attention
void registerDnnKernels(GpuKernelRegistry& r);           // dnn_*: cuDNN convolutions
void registerLossKernels(GpuKernelRegistry& r);          // loss*: NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss
void registerVisionKernels(GpuKernelRegistry& r);        // vision*: GridSample, RoiAlign, Col2Im
void registerIntegerKernels(GpuKernelRegistry& r);       // integer_*: MatMulInteger, QLinearMatMul, ConvInteger, QLinearConv
void registerSignalKernels(GpuKernelRegistry& r);        // signal*, einsum*: DFT, STFT, Einsum, Det
void registerLlmKernels(GpuKernelRegistry& r);           // llm_*: RotaryEmbedding, SwiGLU, TensorScatter, CausalConvWithState, LinearAttention
void registerGridUnpoolKernels(GpuKernelRegistry& r);    // grid_unpool*: AffineGrid, MaxUnpool
void registerSelectKernels(GpuKernelRegistry& r);        // select*: NonZero, Compress, NonMaxSuppression, Unique (data-dependent sizes)

}  // namespace kiln::cuda
