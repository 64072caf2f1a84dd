import FolioKernels
import FolioWeights

/// How the forward pass computes: the fast kernels (the default) or the float32 reference, and on how many threads.
public struct ForwardOptions: Sendable, Equatable {
    /// Float32 activations against dequantized weights everywhere: the path the golden tests compare with
    /// transformers. Otherwise GGUF-quantized weights run on int8 VNNI kernels with activations quantized per block.
    public var reference: Bool
    /// Threads for matrix products and attention (default: every core).
    public var threads: Int
    /// Re-encode float (F32/F16/BF16) projection weights at load as Q8_0 or Q4_0 (vLLM's `--quantization`), so
    /// Hugging Face checkpoints run on the quantized kernels too. nil keeps the checkpoint's encoding.
    public var quantization: TensorType?
    /// Repack Q4_0/Q4_1/Q8_0/F32/F16/BF16 projections at load into 16-row panels for the packed kernels (a copy of
    /// those weights in memory instead of the mapped file; off: every weight read in place).
    public var repack: Bool
    /// Ranks the model is split across (`--tensor-parallel-size`, `--pipeline-parallel-size`; more than 1 needs
    /// `mpirun -np N`).
    public var tensorParallelSize = 1
    public var pipelineParallelSize = 1
    public init(reference: Bool = false, threads: Int? = nil, quantization: TensorType? = nil, repack: Bool = true) {
        self.reference = reference
        self.threads = max(1, threads ?? defaultThreadCount)
        self.quantization = quantization
        self.repack = repack
    }
}
