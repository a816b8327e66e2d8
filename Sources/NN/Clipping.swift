// NN: gradient clipping by global L2 norm and a finiteness check, over the trainable entries of the store.
//
// Run these after the gradient allreduce, so every rank sees the same norm and makes the same decision.

extension ParameterStore {
    /// L2 norm of the gradients of all `.parameter` entries with `requiresGrad`, accumulated in Double.
    public func trainableGradientNorm() -> Float {
        var sum = 0.0
        for (i, e) in entries.enumerated() where e.role == .parameter && requiresGrad[i] {
            let g = gradients.pointer + e.offset
            var partial: Float = 0  // per-entry Float partials keep the inner loop vectorizable
            for j in 0..<e.count { partial += g[j] * g[j] }
            sum += Double(partial)
        }
        return Float(sum.squareRoot())
    }

    /// `torch.nn.utils.clip_grad_norm_`: when the global norm exceeds `maxNorm`, scales the trainable gradients by
    /// `maxNorm / (norm + 1e-6)`. Returns the norm before clipping. A non-finite norm leaves the gradients alone
    /// (torch would turn them all into NaN); check `gradientsAreFinite()` and skip the step instead.
    @discardableResult
    public func clipGradientNorm(maxNorm: Float) -> Float {
        precondition(maxNorm > 0, "maxNorm must be positive")
        let norm = trainableGradientNorm()
        guard norm.isFinite else { return norm }
        let scale = maxNorm / (norm + 1e-6)
        guard scale < 1 else { return norm }
        for (i, e) in entries.enumerated() where e.role == .parameter && requiresGrad[i] {
            let g = gradients.pointer + e.offset
            for j in 0..<e.count { g[j] *= scale }
        }
        return norm
    }

    /// False when any trainable gradient is NaN or infinite.
    public func gradientsAreFinite() -> Bool {
        for (i, e) in entries.enumerated() where e.role == .parameter && requiresGrad[i] {
            let g = gradients.pointer + e.offset
            // A sum of anything non-finite is non-finite, and products by 0 turn ±inf into NaN too.
            var acc: Float = 0
            for j in 0..<e.count { acc += g[j] * 0 }
            if !acc.isFinite { return false }
        }
        return true
    }
}
