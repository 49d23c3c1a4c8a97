import Foundation

/// Who bought which products: each customer's distinct products (indexed like
/// `table.customerIDs`), with the products' codes and names.
public struct ProductPurchases: Sendable {
    public var codes: [String]
    /// A readable name per product ("" when the data has none).
    public var names: [String]
    /// Customer c's distinct products are `products[start[c]..<start[c + 1]]`, ascending.
    private var start: [Int]
    private var products: [Int32]

    /// nil when the table has no product column.
    public init?(_ table: TransactionTable) {
        guard let product = table.product else { return nil }
        let customers = table.customerIDs.count
        let grouped = RFMFeatureBuilder.rowsGroupedByCustomer(table.customer, customers: customers)
        (codes, names) = (table.products, table.productNames)
        (start, products) = ([0], [])
        var bought: [Int32] = []
        for c in 0..<customers {
            bought.removeAll(keepingCapacity: true)
            for r in grouped.rows[grouped.start[c]..<grouped.start[c + 1]] {
                bought.append(product[r])
            }
            bought.sort()
            var previous: Int32 = -1
            for p in bought where p != previous {
                products.append(p)
                previous = p
            }
            start.append(products.count)
        }
    }

    public var customers: Int { start.count - 1 }

    /// Customer c's distinct products (indices into `codes`).
    public func bought(by c: Int) -> ArraySlice<Int32> { products[start[c]..<start[c + 1]] }
}

/// One product's standing in a segment.
public struct ProductStat: Codable, Sendable, Equatable {
    public var code: String
    /// The product's name in the data; "" when it has none.
    public var name: String
    /// The segment's customers who bought it.
    public var buyers: Int
    /// `buyers` over the segment's customers.
    public var share: Double
    /// The share of all customers who bought it.
    public var populationShare: Double
    /// `share` / `populationShare`: 2 means the segment's customers buy it twice as often.
    public var lift: Double
}

/// What a segment's customers buy: the products most of them bought, and those they buy far
/// more often than all customers (lift), each list counting only products bought by at least
/// `minimumBuyers` of the segment's customers, so a product three people bought cannot top it.
public struct SegmentProducts: Codable, Sendable, Equatable {
    /// By buyers, most first (ties: by code).
    public var popular: [ProductStat]
    /// Lift above 1, highest first (ties: more buyers, then by code).
    public var distinctive: [ProductStat]
    public var minimumBuyers: Int

    /// Products per list.
    public static let listLength = 10
    /// The fewest buyers in the segment for a product to be listed: 10, or 1% of the segment's
    /// customers when that is more.
    public static func minimumBuyers(segmentSize: Int) -> Int {
        max(10, Int((Double(segmentSize) * 0.01).rounded(.up)))
    }

    /// Each segment's lists, `labels` giving every customer's segment in `0..<segments`.
    public static func perSegment(
        _ purchases: ProductPurchases, labels: [Int32], segments: Int
    ) -> [SegmentProducts] {
        let productCount = purchases.codes.count
        var buyers = [[Int]](
            repeating: [Int](repeating: 0, count: productCount), count: segments)
        var all = [Int](repeating: 0, count: productCount)
        var sizes = [Int](repeating: 0, count: segments)
        for c in 0..<purchases.customers {
            let s = Int(labels[c])
            sizes[s] += 1
            for p in purchases.bought(by: c) {
                buyers[s][Int(p)] += 1
                all[Int(p)] += 1
            }
        }
        let customers = Double(max(purchases.customers, 1))
        return (0..<segments).map { s in
            let minimum = minimumBuyers(segmentSize: sizes[s])
            let stats = (0..<productCount).filter { buyers[s][$0] >= minimum }.map { p in
                let share = Double(buyers[s][p]) / Double(sizes[s])
                let population = Double(all[p]) / customers
                return ProductStat(
                    code: purchases.codes[p], name: purchases.names[p], buyers: buyers[s][p],
                    share: share, populationShare: population, lift: share / population)
            }
            let popular = stats.sorted {
                ($0.buyers, $1.code) > ($1.buyers, $0.code)
            }
            let distinctive = stats.filter { $0.lift > 1 }.sorted {
                ($0.lift, $0.buyers, $1.code) > ($1.lift, $1.buyers, $0.code)
            }
            return SegmentProducts(
                popular: Array(popular.prefix(listLength)),
                distinctive: Array(distinctive.prefix(listLength)), minimumBuyers: minimum)
        }
    }

    /// Up to `count` products for a customer of this segment who has bought `bought` (codes):
    /// the most distinctive first, then the most popular, leaving out what they have.
    public func recommendations(count: Int, excluding bought: Set<String>) -> [ProductStat] {
        var seen = bought
        var picked: [ProductStat] = []
        for product in distinctive + popular where picked.count < count {
            if seen.insert(product.code).inserted { picked.append(product) }
        }
        return picked
    }
}
