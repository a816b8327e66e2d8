// NN: freezing and unfreezing parts of a model by state-dict prefix (e.g. the backbone while a new head warms up).
//
// A prefix names a module: `layer1` matches `layer1.0.conv1.0.0.weight` but not `layer10.weight`. Only `.parameter`
// entries carry `requiresGrad`; buffers and counters are unaffected (BN running stats still update in train mode).

/// A prefix that names no parameter of the model.
public struct ParameterPrefixError: Error, CustomStringConvertible, Equatable {
    public let prefix: String
    /// The model's top-level module names (first key component of its parameters), sorted.
    public let validTopLevel: [String]
    public var description: String {
        "no parameter of the model is under '\(prefix)' (top-level modules: \(validTopLevel.joined(separator: ", ")))"
    }
}

extension ParameterEntry {
    /// True when this entry is the module `prefix` itself or lies inside it (`prefix.` + anything).
    public func isUnder(prefix: String) -> Bool {
        name == prefix || (name.hasPrefix(prefix) && name.dropFirst(prefix.count).first == ".")
    }
}

extension ParameterStore {
    /// Indices of the `.parameter` entries under `prefix`.
    public func parameterIndices(under prefix: String) -> [Int] {
        entries.indices.filter { entries[$0].role == .parameter && entries[$0].isUnder(prefix: prefix) }
    }

    /// Throws `ParameterPrefixError` for the first prefix that matches no parameter (e.g. before handing the
    /// prefixes to a model's own freeze, which also switches its layers' behaviour).
    public func validate(prefixes: [String]) throws {
        for prefix in prefixes where parameterIndices(under: prefix).isEmpty {
            let top = Set(entries.filter { $0.role == .parameter }.map { String($0.name.split(separator: ".").first ?? "") })
            throw ParameterPrefixError(prefix: prefix, validTopLevel: top.sorted())
        }
    }

    /// Sets `requiresGrad` to `flag` for every parameter under any of `prefixes`. Throws before changing anything
    /// if a prefix matches no parameter.
    public func setRequiresGrad(_ flag: Bool, prefixes: [String]) throws {
        try validate(prefixes: prefixes)
        for prefix in prefixes {
            for i in parameterIndices(under: prefix) { requiresGrad[i] = flag }
        }
    }

    /// Stops gradients and updates for the parameters under `prefixes` (e.g. `["stem", "layer1"]`).
    public func freeze(prefixes: [String]) throws { try setRequiresGrad(false, prefixes: prefixes) }

    /// Re-enables the parameters under `prefixes`.
    public func unfreeze(prefixes: [String]) throws { try setRequiresGrad(true, prefixes: prefixes) }

    /// Makes every parameter trainable again.
    public func unfreezeAll() {
        for (i, e) in entries.enumerated() where e.role == .parameter { requiresGrad[i] = true }
    }

    /// Learnable elements with `requiresGrad` set.
    public var trainableParameterCount: Int {
        entries.indices.reduce(0) { $0 + (entries[$1].role == .parameter && requiresGrad[$1] ? entries[$1].count : 0) }
    }
}
