import Foundation

/// The two kinds of input the engine segments.
public enum InputKind: String, Codable, Sendable, CaseIterable {
    /// One row per order line; features are aggregated per customer (RFM and more).
    case transactions
    /// One row per customer with its own numeric and categorical columns.
    case customers
}

/// Which column of a transactions file plays which role.
///
/// Defaults fit the UCI Online Retail schema. Optional roles whose default column is absent are
/// simply unused; a role the user named explicitly must exist.
public struct TransactionColumns: Codable, Sendable, Equatable {
    public var customer = "CustomerID"
    public var time = "InvoiceDate"
    public var invoice: String? = "InvoiceNo"
    public var quantity: String? = "Quantity"
    public var unitPrice: String? = "UnitPrice"
    /// One amount column instead of quantity x unit price.
    public var amount: String?
    public var country: String? = "Country"
    public var product: String? = "StockCode"
    /// A readable product name (the first non-empty one seen per product), for what each segment
    /// buys; nil in models from before it was read.
    public var productName: String? = "Description"
    /// Roles named by the user, which must then be present.
    public var explicitRoles: Set<String> = []

    public init() {}

    public static let roleNames = [
        "customer", "time", "invoice", "quantity", "price", "amount", "country", "product",
        "product_name",
    ]

    /// Parses `customer=CustomerID,time=InvoiceDate,...` on top of the defaults.
    public init(parsing assignments: String) throws {
        self.init()
        for pair in assignments.split(separator: ",", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard parts.count == 2, !parts[1].isEmpty else {
                throw InputError.badColumnSpec(
                    "\(String(pair).quotedForMessage) is not role=column")
            }
            try set(role: parts[0], column: parts[1])
        }
    }

    public mutating func set(role: String, column: String) throws {
        switch role.lowercased() {
        case "customer", "customer_id", "id": customer = column
        case "time", "date", "timestamp": time = column
        case "invoice", "order": invoice = column
        case "quantity", "qty": quantity = column
        case "price", "unit_price", "unitprice": unitPrice = column
        case "amount", "total": amount = column
        case "country", "region": country = column
        case "product", "sku", "stockcode": product = column
        case "product_name", "description": productName = column
        default:
            throw InputError.badColumnSpec(
                "unknown role \(role.quotedForMessage); roles are \(Self.roleNames.joined(separator: ", "))"
            )
        }
        explicitRoles.insert(Self.canonicalRole(role))
    }

    private static func canonicalRole(_ role: String) -> String {
        switch role.lowercased() {
        case "customer_id", "id": "customer"
        case "date", "timestamp": "time"
        case "order": "invoice"
        case "qty": "quantity"
        case "unit_price", "unitprice": "price"
        case "total": "amount"
        case "region": "country"
        case "sku", "stockcode": "product"
        case "description": "product_name"
        default: role.lowercased()
        }
    }

    /// Column positions in a header, or an error naming the missing column.
    func resolve(header: [String], source: String) throws -> ResolvedTransactionColumns {
        func find(_ name: String?, role: String, required: Bool) throws -> Int? {
            guard let name else {
                if required {
                    throw InputError.missingColumn(
                        role: role, column: "(none)", source: source, header: header)
                }
                return nil
            }
            if let index = header.firstIndex(of: name) { return index }
            if let index = header.firstIndex(where: {
                $0.caseInsensitiveCompare(name) == .orderedSame
            }) {
                return index
            }
            if required || explicitRoles.contains(role) {
                throw InputError.missingColumn(
                    role: role, column: name, source: source, header: header)
            }
            return nil
        }
        let usesAmount = amount != nil
        return ResolvedTransactionColumns(
            width: header.count,
            customer: try find(customer, role: "customer", required: true)!,
            time: try find(time, role: "time", required: true)!,
            invoice: try find(invoice, role: "invoice", required: false),
            quantity: try find(quantity, role: "quantity", required: !usesAmount),
            unitPrice: usesAmount ? nil : try find(unitPrice, role: "price", required: true),
            amount: usesAmount ? try find(amount, role: "amount", required: true) : nil,
            country: try find(country, role: "country", required: false),
            product: try find(product, role: "product", required: false),
            productName: try find(productName, role: "product_name", required: false)
        )
    }
}

struct ResolvedTransactionColumns: Equatable {
    /// Every column position a role reads.
    var positions: [Int] {
        [customer, time]
            + [invoice, quantity, unitPrice, amount, country, product, productName].compactMap {
                $0
            }
    }

    var width: Int
    var customer: Int
    var time: Int
    var invoice: Int?
    var quantity: Int?
    var unitPrice: Int?
    var amount: Int?
    var country: Int?
    var product: Int?
    var productName: Int?
}

/// Bad input, each case naming the file, line, column or value at fault.
public enum InputError: Error, Equatable, CustomStringConvertible {
    case badColumnSpec(String)
    case missingColumn(role: String, column: String, source: String, header: [String])
    case headerMismatch(source: String, expected: [String], found: [String])
    case noUsableRows(String)
    case unknownFeature(String, available: [String])
    case invalidOption(String)
    /// The data does not look like the kind it was declared as.
    case kindMismatch(String)

    private static func missingColumnText(
        role: String, column: String, source: String, header: [String]
    ) -> String {
        let shown = header.forMessage()
        switch role {
        case "filter":
            return
                "\(source): no column \(column.quotedForMessage) to filter on (columns: \(shown))"
        case "customer", "time":
            return
                "\(source): no column \(column.quotedForMessage) for the \(role) role (columns: \(shown)); name it with the column role \(role)=COLUMN, "
                + "or, for a table with one row per customer, upload it as kind customers"
        default:
            return
                "\(source): no column \(column.quotedForMessage) for the \(role) role (columns: \(shown))"
        }
    }

    public var description: String {
        switch self {
        case .badColumnSpec(let message): "bad column spec: \(message)"
        case .missingColumn(let role, let column, let source, let header):
            Self.missingColumnText(role: role, column: column, source: source, header: header)
        case .headerMismatch(let source, let expected, let found):
            "\(source): header \(found.forMessage()) differs from the first file's \(expected.forMessage())"
        case .noUsableRows(let message): message
        case .unknownFeature(let name, let available):
            "unknown feature \(name.quotedForMessage); available: \(available.joined(separator: ", "))"
        case .invalidOption(let message): message
        case .kindMismatch(let message): message
        }
    }
}
