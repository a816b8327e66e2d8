// NN: learning-rate schedules as pure functions of the step, so that a resumed run needs only its step count.
//
// Steps are 0-based and count optimizer updates: `learningRate(step: s, ...)` is the rate update s uses, which is
// what torch's schedulers give when `scheduler.step()` follows each `optimizer.step()`.
import Foundation

public enum LRSchedule: Equatable, Sendable {
    /// The base rate throughout.
    case constant
    /// torch's StepLR: `base · gamma^⌊step / stepSize⌋`.
    case step(stepSize: Int, gamma: Double)
    /// torch's SequentialLR of LinearLR(startFactor → 1 over `warmupSteps`) then CosineAnnealingLR(T_max =
    /// totalSteps − warmupSteps, eta_min = base · minFactor). Past `totalSteps` the rate stays at the minimum
    /// (torch's cosine would climb back up).
    case warmupCosine(warmupSteps: Int, startFactor: Double, totalSteps: Int, minFactor: Double)

    /// The multiplier of the base rate at `step`.
    public func factor(step: Int) -> Double {
        precondition(step >= 0, "negative step \(step)")
        switch self {
        case .constant:
            return 1
        case let .step(stepSize, gamma):
            precondition(stepSize > 0, "stepSize must be positive")
            return pow(gamma, Double(step / stepSize))
        case let .warmupCosine(warmup, startFactor, total, minFactor):
            precondition(warmup >= 0 && total > warmup, "need 0 <= warmupSteps < totalSteps")
            if step < warmup { return startFactor + (1 - startFactor) * Double(step) / Double(warmup) }
            let t = Double(min(step, total) - warmup), span = Double(total - warmup)
            return minFactor + (1 - minFactor) * (1 + cos(Double.pi * t / span)) / 2
        }
    }

    /// The learning rate of a group with base rate `baseLR` at `step`.
    public func learningRate(step: Int, baseLR: Double) -> Double { baseLR * factor(step: step) }
}
