import Foundation

/// Generates realistic transactions in the Online Retail schema for customers drawn from known
/// behaviour groups, so the demo has data and tests can check the engine finds the groups.
///
/// Seeded: the same options give the same bytes. Optional noise mimics what real exports
/// contain (guest orders without a customer id, cancellations, zero prices, duplicate lines), and
/// the generator reports how many of each it wrote.
public struct SampleDataGenerator: Sendable {
    /// A behaviour group: ranges for days since the last purchase, number of orders and order value.
    public struct Group: Sendable, Equatable {
        public var name: String
        public var weight: Double
        public var recencyDays: ClosedRange<Double>
        public var orders: ClosedRange<Int>
        public var orderValue: ClosedRange<Double>

        public init(
            name: String, weight: Double, recencyDays: ClosedRange<Double>,
            orders: ClosedRange<Int>,
            orderValue: ClosedRange<Double>
        ) {
            self.name = name
            self.weight = weight
            self.recencyDays = recencyDays
            self.orders = orders
            self.orderValue = orderValue
        }
    }

    /// Four well separated groups (used by the recovery test).
    public static let clearGroups: [Group] = [
        Group(
            name: "champions", weight: 0.2, recencyDays: 1...12, orders: 25...45,
            orderValue: 350...600),
        Group(name: "new", weight: 0.25, recencyDays: 2...20, orders: 1...1, orderValue: 15...30),
        Group(
            name: "lapsed-big-spenders", weight: 0.2, recencyDays: 200...330, orders: 6...10,
            orderValue: 1500...3000),
        Group(
            name: "hibernating", weight: 0.35, recencyDays: 150...360, orders: 1...2,
            orderValue: 100...180),
    ]

    /// Six overlapping groups, closer to a real shop (the demo's default).
    public static let realisticGroups: [Group] = [
        Group(
            name: "champions", weight: 0.10, recencyDays: 1...20, orders: 10...40,
            orderValue: 250...700),
        Group(
            name: "loyal", weight: 0.18, recencyDays: 5...60, orders: 5...15, orderValue: 150...400),
        Group(name: "new", weight: 0.15, recencyDays: 1...30, orders: 1...2, orderValue: 50...250),
        Group(
            name: "big-spenders", weight: 0.07, recencyDays: 10...120, orders: 1...4,
            orderValue: 1500...6000),
        Group(
            name: "at-risk", weight: 0.20, recencyDays: 120...250, orders: 3...10,
            orderValue: 150...450),
        Group(
            name: "hibernating", weight: 0.30, recencyDays: 180...370, orders: 1...2,
            orderValue: 20...200),
    ]

    public var customers: Int
    public var groups: [Group]
    public var seed: UInt64
    /// Whether to add guest orders, cancellations, zero prices and duplicate lines.
    public var noise: Bool
    /// The last day of the data (the snapshot is the day after).
    public var endDate = "2011-12-09"

    public init(
        customers: Int, groups: [Group] = SampleDataGenerator.realisticGroups, seed: UInt64 = 0,
        noise: Bool = true
    ) {
        self.customers = customers
        self.groups = groups
        self.seed = seed
        self.noise = noise
    }

    /// What was generated: the CSV and the truth behind it.
    public struct Output: Sendable {
        public var csv: String
        /// Group name of every customer id.
        public var groupOf: [String: String]
        public var rows: Int
        public var guestRows = 0
        public var cancellationRows = 0
        public var zeroPriceRows = 0
        public var duplicateRows = 0
    }

    private static let products: [(code: String, description: String, price: Double)] = [
        ("85123A", "WHITE HANGING HEART T-LIGHT HOLDER", 2.55),
        ("71053", "WHITE METAL LANTERN", 3.39),
        ("84406B", "CREAM CUPID HEARTS COAT HANGER", 2.75),
        ("84029G", "KNITTED UNION FLAG HOT WATER BOTTLE", 3.39),
        ("22752", "SET 7 BABUSHKA NESTING BOXES", 7.65),
        ("21730", "GLASS STAR FROSTED T-LIGHT HOLDER", 4.25),
        ("22633", "HAND WARMER UNION JACK", 1.85), ("22728", "ALARM CLOCK BAKELIKE PINK", 3.75),
        ("22960", "JAM MAKING SET WITH JARS", 4.25),
        ("21212", "PACK OF 72 RETROSPOT CAKE CASES", 0.55),
        ("47566", "PARTY BUNTING", 4.95), ("23084", "RABBIT NIGHT LIGHT", 2.08),
        ("22423", "REGENCY CAKESTAND 3 TIER", 12.75),
        ("84879", "ASSORTED COLOUR BIRD ORNAMENT", 1.69),
        ("22086", "PAPER CHAIN KIT 50'S CHRISTMAS", 2.95),
        ("20725", "LUNCH BAG RED RETROSPOT", 1.65),
        ("22197", "POPCORN HOLDER, SMALL", 0.85), ("23203", "JUMBO BAG \"VINTAGE\" DOILY", 2.08),
    ]

    private static let countries: [(String, Double)] = [
        ("United Kingdom", 0.86), ("Germany", 0.04), ("France", 0.04), ("EIRE", 0.02),
        ("Spain", 0.02),
        ("Netherlands", 0.01), ("Australia", 0.01),
    ]

    public func generate() -> Output {
        precondition(customers > 0 && !groups.isEmpty, "need customers and groups")
        var random = SeededGenerator(seed: seed)
        let endDay = TimestampParser.day(ofDate: endDate)!
        let totalWeight = groups.reduce(0) { $0 + $1.weight }
        var lines: [(second: Int64, text: String)] = []
        var output = Output(csv: "", groupOf: [:], rows: 0)
        var invoice = 536_365

        for c in 0..<customers {
            let id = String(12_346 + c)
            let group = pickGroup(&random, totalWeight)
            output.groupOf[id] = group.name
            let country = pickCountry(&random)
            let orders = Int.random(in: group.orders, using: &random)
            // Recency is counted to the snapshot, the day after `endDate`; the first customer
            // bought on the last day so the data always ends on `endDate`.
            let lastDay =
                c == 0
                ? endDay : endDay + 1 - max(1, Int(uniform(group.recencyDays, &random).rounded()))
            // Orders spread back from the last one over up to a year.
            let span = max(0, min(365, lastDay - (endDay - 372)))
            let days =
                [lastDay]
                + (1..<max(orders, 1)).map { _ in
                    lastDay - Int.random(in: 0...max(span, 0), using: &random)
                }
            for day in days {
                invoice += 1
                let second =
                    Int64(day) * 86_400
                    + Int64(Int.random(in: 8 * 3600...18 * 3600, using: &random))
                let value = uniform(group.orderValue, &random)
                for line in orderLines(value: value, &random) {
                    lines.append(
                        (
                            second,
                            row(
                                String(invoice), line, second, customer: id + ".0", country: country
                            )
                        ))
                    if noise && random.nextUnit() < 0.004 {
                        lines.append((second, lines.last!.text)); output.duplicateRows += 1
                    }
                }
                if noise && random.nextUnit() < 0.03 {
                    let line = orderLines(value: 10, &random)[0]
                    let cancelled = (line.0, line.1, -line.2, line.3)
                    lines.append(
                        (
                            second + 3600,
                            row(
                                "C" + String(invoice), cancelled, second + 3600,
                                customer: id + ".0", country: country)
                        ))
                    output.cancellationRows += 1
                }
            }
        }
        if noise {
            // Guest checkouts have no customer id; a few lines are free samples.
            for _ in 0..<(customers / 4) {
                invoice += 1
                let day = endDay - Int.random(in: 0...365, using: &random)
                let second =
                    Int64(day) * 86_400
                    + Int64(Int.random(in: 8 * 3600...18 * 3600, using: &random))
                lines.append(
                    (
                        second,
                        row(
                            String(invoice), orderLines(value: 40, &random)[0], second,
                            customer: "", country: "United Kingdom")
                    ))
                output.guestRows += 1
            }
            for _ in 0..<(customers / 50) {
                invoice += 1
                let day = endDay - Int.random(in: 0...365, using: &random)
                let second = Int64(day) * 86_400 + 43_200
                let free = ("POST", "POSTAGE", 1, 0.0)
                lines.append(
                    (
                        second,
                        row(
                            String(invoice), free, second, customer: "12346.0",
                            country: "United Kingdom")
                    ))
                output.zeroPriceRows += 1
            }
        }
        lines.sort { $0.second < $1.second }
        var csv =
            "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
        csv.reserveCapacity(lines.count * 90)
        for line in lines { csv += line.text; csv += "\n" }
        output.csv = csv
        output.rows = lines.count
        return output
    }

    private func pickGroup(_ random: inout SeededGenerator, _ total: Double) -> Group {
        var target = random.nextUnit() * total
        for group in groups {
            target -= group.weight
            if target < 0 { return group }
        }
        return groups[groups.count - 1]
    }

    private func pickCountry(_ random: inout SeededGenerator) -> String {
        var target = random.nextUnit()
        for (name, share) in Self.countries {
            target -= share
            if target < 0 { return name }
        }
        return "United Kingdom"
    }

    private func uniform(_ range: ClosedRange<Double>, _ random: inout SeededGenerator) -> Double {
        range.lowerBound + (range.upperBound - range.lowerBound) * random.nextUnit()
    }

    /// Lines whose total is close to `value`: a few products, quantities to match.
    private func orderLines(
        value: Double, _ random: inout SeededGenerator
    ) -> [(String, String, Int, Double)] {
        let count = Int.random(in: 1...4, using: &random)
        let share = value / Double(count)
        // Distinct products per order, so the only duplicate lines are the injected ones.
        var catalogue = Array(Self.products.indices)
        for i in 0..<count {
            catalogue.swapAt(i, Int.random(in: i..<catalogue.count, using: &random))
        }
        return catalogue.prefix(count).map { index in
            let product = Self.products[index]
            let quantity = max(1, Int((share / product.price).rounded()))
            return (product.code, product.description, quantity, product.price)
        }
    }

    private func row(
        _ invoice: String, _ line: (String, String, Int, Double), _ second: Int64, customer: String,
        country: String
    ) -> String {
        let day = TimestampParser.day(of: second)
        let seconds = Int(second - Int64(day) * 86_400)
        let time = String(format: "%02d:%02d:00", seconds / 3600, seconds % 3600 / 60)
        let description =
            line.1.contains(",") || line.1.contains("\"")
            ? "\"" + line.1.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : line.1
        return
            "\(invoice),\(line.0),\(description),\(line.2),\(TimestampParser.isoDate(day: day)) \(time),\(line.3),\(customer),\(country)"
    }
}
