import Foundation

/// How features are scaled after the optional log transform.
public enum Scaling: String, Codable, Sendable, CaseIterable {
    /// (x - mean) / population standard deviation.
    case standard
    /// (x - median) / interquartile range.
    case robust
    /// (x - min) / (max - min).
    case minMax = "minmax"
    case none
}

/// Which features get `log1p` before scaling.
public enum LogTransform: Codable, Sendable, Equatable {
    case none
    case all
    /// Non-negative features whose sample skewness exceeds 1.
    case auto
    case features([String])
}

public struct PipelineSpec: Codable, Sendable, Equatable {
    public var log: LogTransform
    public var scaling: Scaling

    public init(log: LogTransform = .all, scaling: Scaling = .standard) {
        self.log = log
        self.scaling = scaling
    }
}

/// A value that cannot go through the pipeline, naming the customer and the field.
public enum ScoringError: Error, Equatable, CustomStringConvertible {
    case wrongArity(customer: String, expected: Int, found: Int)
    case nonFinite(customer: String, field: String, value: Double)
    case outOfDomain(customer: String, field: String, value: Double, reason: String)
    case unknownColumn(String, expected: [String])
    case missingColumn(String)
    case unreadable(customer: String, field: String, text: String)
    case emptyBatch
    /// A request option this input or model cannot serve.
    case badOption(field: String, reason: String)

    public var description: String {
        switch self {
        case .wrongArity(let customer, let expected, let found):
            "customer \(customer.forMessage): expected \(expected) values, found \(found)"
        case .nonFinite(let customer, let field, let value):
            "customer \(customer.forMessage): field \(field.forMessage) is \(value), not a finite number"
        case .outOfDomain(let customer, let field, let value, let reason):
            "customer \(customer.forMessage): field \(field.forMessage) = \(value) \(reason)"
        case .unknownColumn(let name, let expected):
            "unknown column \(name.quotedForMessage); the model expects \(expected.joined(separator: ", "))"
        case .missingColumn(let name): "missing column \(name.quotedForMessage)"
        case .unreadable(let customer, let field, let text):
            "customer \(customer.forMessage): field \(field.forMessage) = \(text.quotedForMessage) is not a number"
        case .emptyBatch: "no customers to score"
        case .badOption(let field, let reason): "\(field) \(reason)"
        }
    }
}

/// The fitted feature pipeline: `log1p` where chosen, then scaling with learned parameters.
/// Part of the model, so scoring runs exactly the training transform.
public struct FittedPipeline: Codable, Sendable, Equatable {
    public var features: [String]
    public var log1p: [Bool]
    public var scaling: Scaling
    public var center: [Double]
    public var scale: [Double]

    /// Learns the pipeline on raw features (one column per entry of `features`).
    public static func fit(
        _ raw: Matrix, features: [String], spec: PipelineSpec
    ) throws -> FittedPipeline {
        precondition(raw.columns == features.count)
        let logged: [Bool] = try features.indices.map { j in
            // 0/1 columns (indicators, one-hot) are never logged: log1p would only rescale them.
            let binary = raw.column(j).allSatisfy { $0 == 0 || $0 == 1 }
            switch spec.log {
            case .none: return false
            case .all: return !binary
            case .auto:
                let column = raw.column(j)
                return !binary && (column.min() ?? 0) >= 0 && skewness(column) > 1
            case .features(let names):
                for name in names where !features.contains(name) {
                    throw InputError.unknownFeature(name, available: features)
                }
                return names.contains(features[j])
            }
        }
        var pipeline = FittedPipeline(
            features: features, log1p: logged, scaling: spec.scaling,
            center: Array(repeating: 0, count: features.count),
            scale: Array(repeating: 1, count: features.count))
        for j in features.indices {
            var column = raw.column(j)
            for (i, value) in column.enumerated() {
                try pipeline.checkDomain(value, feature: j, customer: "row \(i + 1)")
                if logged[j] { column[i] = Foundation.log1p(value) }
            }
            (pipeline.center[j], pipeline.scale[j]) = Self.parameters(
                of: column, scaling: spec.scaling)
        }
        return pipeline
    }

    /// Applies the pipeline; `customerIDs` name rows in errors.
    public func transform(_ raw: Matrix, customerIDs: [String]? = nil) throws -> Matrix {
        func name(_ row: Int) -> String { customerIDs?[row] ?? "row \(row + 1)" }
        guard raw.columns == features.count else {
            throw ScoringError.wrongArity(
                customer: name(0), expected: features.count, found: raw.columns)
        }
        let width = raw.columns
        var out = [Double](repeating: 0, count: raw.values.count)
        try raw.values.withUnsafeBufferPointer { input in
            try out.withUnsafeMutableBufferPointer { output in
                for i in 0..<raw.rows {
                    for j in 0..<width {
                        var value = input[i * width + j]
                        // Checked inline; the customer's name is only built for the error.
                        if !value.isFinite || (log1p[j] && value <= -1) {
                            try checkDomain(value, feature: j, customer: name(i))
                        }
                        if log1p[j] { value = Foundation.log1p(value) }
                        output[i * width + j] = (value - center[j]) / scale[j]
                    }
                }
            }
        }
        return Matrix(rows: raw.rows, columns: width, values: out)
    }

    /// The log-transformed but unscaled value of feature `j` (for z-scores in profiles).
    public func logged(_ value: Double, feature j: Int) -> Double {
        log1p[j] ? Foundation.log1p(value) : value
    }

    private func checkDomain(_ value: Double, feature j: Int, customer: String) throws {
        guard value.isFinite else {
            throw ScoringError.nonFinite(customer: customer, field: features[j], value: value)
        }
        if log1p[j] && value <= -1 {
            throw ScoringError.outOfDomain(
                customer: customer, field: features[j], value: value,
                reason: "is <= -1, outside the log1p transform's domain")
        }
    }

    private static func parameters(of column: [Double], scaling: Scaling) -> (Double, Double) {
        // constant columns stay put
        func nonZero(_ s: Double) -> Double { s > 0 && s.isFinite ? s : 1 }
        switch scaling {
        case .none:
            return (0, 1)
        case .standard:
            let mean = Statistics.mean(column)
            return (mean, nonZero(Statistics.populationStandardDeviation(column, mean: mean)))
        case .robust:
            let sorted = column.sorted()
            let iqr =
                Statistics.quantile(sorted: sorted, 0.75)
                - Statistics.quantile(sorted: sorted, 0.25)
            return (Statistics.quantile(sorted: sorted, 0.5), nonZero(iqr))
        case .minMax:
            let low = column.min() ?? 0, high = column.max() ?? 0
            return (low, nonZero(high - low))
        }
    }

    private static func skewness(_ column: [Double]) -> Double {
        let mean = Statistics.mean(column)
        let sd = Statistics.populationStandardDeviation(column, mean: mean)
        guard sd > 0 else { return 0 }
        return column.reduce(0) { $0 + pow(($1 - mean) / sd, 3) } / Double(column.count)
    }
}

/// Small statistics helpers shared by the engine.
public enum Statistics {
    public static func mean(_ values: [Double]) -> Double {
        values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
    }

    public static func populationStandardDeviation(_ values: [Double], mean: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sum = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        return (sum / Double(values.count)).squareRoot()
    }

    /// Linear-interpolation quantile (numpy's default) of sorted values.
    public static func quantile(sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let position = q * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down))
        let upper = min(lower + 1, sorted.count - 1)
        let fraction = position - Double(lower)
        return sorted[lower] + (sorted[upper] - sorted[lower]) * fraction
    }

    public static func median(_ values: [Double]) -> Double {
        quantile(sorted: values.sorted(), 0.5)
    }
}
