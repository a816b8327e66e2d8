// Launcher: run configurations from a file (`--config FILE`, YAML or JSON). The file's keys are the long option
// names (`batch-size: 8` or `batch_size: 8`); it is expanded into command-line arguments placed before the ones
// typed, so that flags on the command line override the file (the last occurrence of an option wins).
import Foundation
import Yams

public struct ConfigFileError: Error, CustomStringConvertible {
    public let path: String
    public let reason: String
    public var description: String { "config file \(path): \(reason)" }
}

public enum ConfigFile {
    /// Replaces `--config FILE` (or `--config=FILE`) before any `--` in `arguments` by the options the file sets.
    /// `arguments` excludes the program name; a leading subcommand name stays first.
    public static func expand(_ arguments: [String]) throws -> [String] {
        var args = arguments
        // Words after `--` belong to another command (`supervise -- mpirun ... --config FILE`): left as they are.
        let end = args.firstIndex(of: "--") ?? args.count
        guard let i = args[..<end].firstIndex(where: { $0 == "--config" || $0.hasPrefix("--config=") }) else { return args }
        let path: String
        if args[i] == "--config" {
            guard i + 1 < args.count else { throw ConfigFileError(path: "", reason: "--config needs a file name") }
            path = args[i + 1]
            args.removeSubrange(i...i + 1)
        } else {
            path = String(args[i].dropFirst("--config=".count))
            args.remove(at: i)
        }
        let fromFile = try options(fromFile: path)
        // Keep a subcommand name (a first word without dashes) in front of the inserted options.
        let insertAt = args.first.map { !$0.hasPrefix("-") } == true ? 1 : 0
        args.insert(contentsOf: fromFile, at: insertAt)
        return args
    }

    /// The file `--config` names in `arguments` (before any `--`), if any.
    public static func path(in arguments: [String]) -> String? {
        let end = arguments.firstIndex(of: "--") ?? arguments.count
        guard let i = arguments[..<end].firstIndex(where: { $0 == "--config" || $0.hasPrefix("--config=") }) else { return nil }
        if arguments[i] == "--config" { return i + 1 < arguments.count ? arguments[i + 1] : nil }
        return String(arguments[i].dropFirst("--config=".count))
    }

    /// A parse error caused by a key of the config file, in words that name the file and the key: for `message`
    /// "Unknown option '--epoch'" where the file set `--epoch`. `known` are the command's option names, for the
    /// closest one as a suggestion. Nil when the error is not about a key of the file.
    public static func explain(parseError message: String, configPath path: String, known: [String]) -> ConfigFileError? {
        guard let flags = try? options(fromFile: path).filter({ $0.hasPrefix("--") }),
              let flag = flags.first(where: { message.contains("'\($0)'") }) else { return nil }
        let key = String(flag.dropFirst(2))
        let closest = known.map { ($0, editDistance($0, flag)) }.filter { $0.1 <= 2 }.min { $0.1 < $1.1 }?.0
        return ConfigFileError(path: path, reason: "key '\(key)' is not an option of this command (\(message.trimmingCharacters(in: .whitespacesAndNewlines)))"
                               + (closest.map { "; did you mean '\($0.dropFirst(2))'?" } ?? "; `--help` lists the options"))
    }

    /// Levenshtein distance, for suggesting the option a key was meant to be.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let x = Array(a), y = Array(b)
        guard !x.isEmpty, !y.isEmpty else { return max(x.count, y.count) }
        var row = Array(0...y.count)
        for i in 1...x.count {
            var diagonal = row[0]
            row[0] = i
            for j in 1...y.count {
                let above = row[j]
                row[j] = min(above + 1, row[j - 1] + 1, diagonal + (x[i - 1] == y[j - 1] ? 0 : 1))
                diagonal = above
            }
        }
        return row[y.count]
    }

    /// The command-line arguments a config file stands for, in the file's key order.
    public static func options(fromFile path: String) throws -> [String] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigFileError(path: path, reason: "cannot read the file")
        }
        let root: Any?
        do {
            root = try Yams.load(yaml: text)  // YAML 1.2 is a superset of JSON, so .json files load too
        } catch {
            throw ConfigFileError(path: path, reason: "not valid YAML or JSON: \(error)")
        }
        guard let map = root as? [String: Any] else {
            throw ConfigFileError(path: path, reason: "the top level must be a mapping of option names to values")
        }
        // Yams returns an unordered dictionary; sort for a stable expansion (each option appears once anyway).
        var out: [String] = []
        for key in map.keys.sorted() {
            let flag = "--" + key.replacingOccurrences(of: "_", with: "-")
            switch map[key] {
            case let b as Bool:
                if b { out.append(flag) }
            case let list as [Any]:
                out += [flag, list.map { "\($0)" }.joined(separator: ",")]
            case let v?:
                out += [flag, "\(v)"]
            case nil:
                break
            }
        }
        return out
    }
}
