// NN: softmax cross-entropy with label smoothing, PyTorch's `CrossEntropyLoss(label_smoothing: ε)`, mean over the
// batch.
import Foundation

public enum SoftmaxCrossEntropy {
    /// logits: [N, K]; labels: N class indices in 0..<K. Returns the mean loss
    /// (1/N) Σᵢ [(1 − ε)·(−log pᵢ,yᵢ) + (ε/K)·Σₖ(−log pᵢ,ₖ)] and dLogits [N, K] = (softmax − target) / N with
    /// target = (1 − ε)·onehot + ε/K.
    public static func compute(logits: Tensor, labels: [Int], labelSmoothing: Float = 0) throws
        -> (loss: Float, dLogits: Tensor) {
        guard logits.shape.count == 2, logits.shape[0] == labels.count else {
            throw NNError("SoftmaxCrossEntropy", "logits \(logits.shape) for \(labels.count) labels")
        }
        let n = logits.shape[0], k = logits.shape[1], eps = Double(labelSmoothing)
        guard labels.allSatisfy({ $0 >= 0 && $0 < k }) else {
            throw NNError("SoftmaxCrossEntropy", "label outside 0..<\(k) in \(labels)")
        }
        let d = Tensor(shape: [n, k])
        var total: Double = 0
        for i in 0..<n {
            let row = logits.data + i * k
            var m = -Double.infinity
            for j in 0..<k { m = max(m, Double(row[j])) }
            var z: Double = 0
            for j in 0..<k { z += exp(Double(row[j]) - m) }
            let logZ = m + log(z)
            var sumNegLog: Double = 0
            for j in 0..<k {
                let logp = Double(row[j]) - logZ
                sumNegLog -= logp
                let target = (j == labels[i] ? 1 - eps : 0) + eps / Double(k)
                d.data[i * k + j] = Float((exp(logp) - target) / Double(n))
            }
            let nll = logZ - Double(row[labels[i]])
            total += (1 - eps) * nll + eps / Double(k) * sumNegLog
        }
        return (Float(total / Double(n)), d)
    }
}
