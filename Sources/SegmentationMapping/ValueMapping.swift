import Foundation
import SegmentationEngine
import SegmentationMessages
import SwiftProtobuf

// The API's small values and the engine's, both ways.

extension Google_Protobuf_Timestamp {
    public init(_ date: Date) { self.init(timeIntervalSince1970: date.timeIntervalSince1970) }
}

extension InputKind {
    public init(_ kind: Segmentation_V1_InputKind) throws {
        switch kind {
        case .transactions: self = .transactions
        case .customers: self = .customers
        default:
            throw InvalidField(
                "kind", "kind must be INPUT_KIND_TRANSACTIONS or INPUT_KIND_CUSTOMERS")
        }
    }

    public var proto: Segmentation_V1_InputKind {
        self == .transactions ? .transactions : .customers
    }
}

extension TransactionColumns {
    /// The engine's column options from the API's role -> column map; an error names a bad role.
    public init(roles: [String: String]) throws {
        self.init()
        for (role, column) in roles.sorted(by: { $0.key < $1.key }) {
            try set(role: role, column: column)
        }
    }
}

extension Scaling {
    /// The engine's scaling; nil for unspecified (the default applies).
    public init?(_ scaling: Segmentation_V1_Scaling, field: String) throws {
        switch scaling {
        case .unspecified: return nil
        case .UNRECOGNIZED(let value): throw InvalidField(field, "\(field): unknown value \(value)")
        case .standard: self = .standard
        case .robust: self = .robust
        case .minMax: self = .minMax
        case .none: self = .none
        }
    }

    public var proto: Segmentation_V1_Scaling {
        switch self {
        case .standard: .standard
        case .robust: .robust
        case .minMax: .minMax
        case .none: .none
        }
    }
}

extension KSelectionMethod {
    /// The engine's rule; nil for unspecified (the default applies).
    public init?(_ selection: Segmentation_V1_KSelection, field: String) throws {
        switch selection {
        case .unspecified: return nil
        case .UNRECOGNIZED(let value): throw InvalidField(field, "\(field): unknown value \(value)")
        case .actionable: self = .actionable
        case .silhouette: self = .silhouette
        case .elbow: self = .elbow
        case .fixed: self = .fixed
        case .bic: self = .bic
        case .aic: self = .aic
        }
    }

    public var proto: Segmentation_V1_KSelection {
        switch self {
        case .actionable: .actionable
        case .silhouette: .silhouette
        case .elbow: .elbow
        case .fixed: .fixed
        case .bic: .bic
        case .aic: .aic
        }
    }
}

extension GaussianMixture.Covariance {
    /// The engine's covariance; nil for unspecified (the default applies).
    public init?(_ covariance: Segmentation_V1_CovarianceType, field: String) throws {
        switch covariance {
        case .unspecified: return nil
        case .full: self = .full
        case .diagonal: self = .diagonal
        case .spherical: self = .spherical
        case .UNRECOGNIZED(let value): throw InvalidField(field, "\(field): unknown value \(value)")
        }
    }

    public var proto: Segmentation_V1_CovarianceType {
        switch self {
        case .full: .full
        case .diagonal: .diagonal
        case .spherical: .spherical
        }
    }
}

extension RowFilter {
    public init(_ filter: Segmentation_V1_RowFilter) throws {
        let mode: Mode =
            switch filter.mode {
            case .include: .include
            case .exclude: .exclude
            default:
                throw InvalidField(
                    "filters",
                    "filter on \(filter.column.quotedForMessage): mode must be FILTER_MODE_INCLUDE or FILTER_MODE_EXCLUDE"
                )
            }
        guard !filter.column.isEmpty, filter.column.count <= 256, filter.value.count <= 1024 else {
            throw InvalidField(
                "filters",
                "a filter needs a column (at most 256 characters) and a value of at most 1024")
        }
        self.init(mode: mode, column: filter.column, value: filter.value)
    }

    public var proto: Segmentation_V1_RowFilter {
        .with {
            $0.mode = mode == .include ? .include : .exclude; $0.column = column; $0.value = value
        }
    }

    /// The filters of a request; nil for none.
    public static func list(_ filters: [Segmentation_V1_RowFilter]) throws -> [RowFilter]? {
        guard filters.count <= RowFilter.maximumCount else {
            throw InvalidField(
                "filters",
                "filters: \(filters.count) given, at most \(RowFilter.maximumCount) allowed")
        }
        return filters.isEmpty ? nil : try filters.map(RowFilter.init)
    }
}
