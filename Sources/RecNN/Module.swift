import RecCore
import RecIO

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// Something with parameters.
public protocol Module: AnyObject {
    /// Every parameter, in a fixed order (checkpoints and optimisers use it).
    var parameters: [Parameter] { get }
}

extension Module {
    /// Sets every parameter's gradient to zero (in place).
    public func zeroGrad() { for p in parameters { p.zeroGrad() } }

    /// Writes the parameters to a safetensors file (atomically).
    public func save(to path: String, metadata: [String: String] = [:]) throws(RecIOError) {
        var t = [String: Tensor]()
        for p in parameters { t[p.name] = p.tensor }
        try SafeTensors.write(t, metadata: metadata, to: path)
    }

    /// Loads parameters from a safetensors file. Every parameter must be present with a matching
    /// shape (a vector parameter of n values accepts shape [n] or, as older files hold it,
    /// [1, n]); otherwise nothing is changed and the error names the tensor.
    public func load(from path: String) throws(RecNNError) {
        let file: [String: Tensor]
        do { file = try SafeTensors.read(path).tensors } catch { throw .io(error) }
        var staged = [(Parameter, Matrix)]()
        for p in parameters {
            guard let t = file[p.name] else { throw .checkpoint(file: path, tensor: p.name, message: "missing") }
            let rows = p.value.rows
            let cols = p.value.cols
            guard p.accepts(shape: t.shape) else {
                throw .checkpoint(
                    file: path, tensor: p.name, message: "shape \(t.shape), expected \(p.checkpointShape)")
            }
            staged.append((p, Matrix(rows: rows, cols: cols, elements: t.values)))
        }
        for (p, m) in staged { p.value = m }
    }
}
