import Foundation
import Testing

@testable import SegmentationEngine

@Suite("Customer tables done right, and no silent mistakes")
struct CustomerTableTests {
    /// A credit-card-like table with a row-name column, a yes/no column and sensitive attributes.
    static func table(rows: Int = 240, seed: UInt64 = 5) -> String {
        var rng = SeededGenerator(seed: seed)
        var lines = ["rownames,CUST_ID,BALANCE,PURCHASES,CASH_ADVANCE,online,Gender,Marital_Status"]
        for i in 1...rows {
            let group = i % 3
            let balance = [200.0, 4000, 1500][group] * (0.8 + 0.4 * rng.nextUnit())
            let purchases = [3000.0, 100, 800][group] * (0.8 + 0.4 * rng.nextUnit())
            let cash = [0.0, 2500, 50][group] * (0.8 + 0.4 * rng.nextUnit())
            let online = rng.nextUnit() < [0.8, 0.2, 0.5][group] ? "Yes" : "No"
            let gender = rng.nextUnit() < 0.5 ? "F" : "M"
            let marital = ["Married", "Single", "Divorced"][Int(rng.next() % 3)]
            lines.append(
                "\(i),C\(10000 + i),\(balance),\(purchases),\(cash),\(online),\(gender),\(marital)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func train(
        _ csv: String, _ configure: (inout TrainingConfiguration) -> Void = { _ in }
    ) throws -> SegmentationModel {
        var configuration = TrainingConfiguration()
        configuration.kind = .customers
        configuration.ks = [3]
        configure(&configuration)
        return try SegmentationTrainer(configuration: configuration).train([
            .bytes(name: "cards.csv", data: Data(csv.utf8))
        ])
    }

    @Test(
        "Row names are no feature; yes/no is one 0/1 column, never logged; sensitive columns stay out of features, names and actions"
    )
    func defaults() throws {
        let model = try train(Self.table())
        #expect(model.customerEncoder?.idColumn == "CUST_ID")
        #expect(model.pipeline.features == ["BALANCE", "PURCHASES", "CASH_ADVANCE", "online=Yes"])
        #expect(model.pipeline.log1p[3] == false)
        #expect(model.dataReport.identifierColumns == ["rownames"])
        #expect(model.dataReport.sensitiveColumns == ["Gender", "Marital_Status"])
        #expect(model.dataReport.unusedColumns == [])
        #expect(
            SensitiveAttributes.isSensitive("MaritalStatus")
                && SensitiveAttributes.isSensitive("GenderCode")
                && SensitiveAttributes.isSensitive("maritalstatus")
                && SensitiveAttributes.isSensitive("SEX"))
        #expect(
            !SensitiveAttributes.isSensitive("Sessions")
                && !SensitiveAttributes.isSensitive("Trace"))
        // Age and what gives it away are protected too; look-alike words are not.
        for name in [
            "Age", "customer_age", "AgeGroup", "DateOfBirth", "DOB", "birth_date",
            "National Origin", "Disability", "Pregnant",
        ] {
            #expect(SensitiveAttributes.isSensitive(name), "\(name)")
        }
        for name in [
            "Usage", "PageViews", "Storage", "InternationalOrders", "Original_Price",
            "Average_Basket",
        ] {
            #expect(!SensitiveAttributes.isSensitive(name), "\(name)")
        }
        #expect(
            CustomerTableLoader.isNamedLikeIdentifier("CustomerID")
                && CustomerTableLoader.isNamedLikeIdentifier("Unnamed: 0"))
        #expect(
            !CustomerTableLoader.isNamedLikeIdentifier("AMOUNT_PAID")
                && !CustomerTableLoader.isNamedLikeIdentifier("VALID"))
        for segment in model.segments {
            let words = (segment.name + segment.description + segment.actions.joined()).lowercased()
            #expect(!words.contains("gender") && !words.contains("marital"))
            let composition = try #require(segment.profile.composition)
            #expect(composition.map(\.attribute) == ["Gender", "Marital_Status"])
            #expect(abs(composition[0].shares.map(\.share).reduce(0, +) - 1) < 1e-9)
            #expect(Set(segment.actions).count == segment.actions.count)
        }
        let checker = ClaimChecker(
            profiles: model.segments.map(\.profile), clustering: model.pipeline.features)
        for segment in model.segments {
            #expect(
                checker.violations(
                    SegmentLabel(
                        name: segment.name, description: segment.description,
                        actions: segment.actions), index: segment.id
                ).isEmpty)
        }
        // The three built groups come out as three segments named by their standout columns.
        #expect(Set(model.segments.map(\.profile.size)) == [80])
        #expect(model.segments.contains { $0.name.contains("High Cash Advance") })
    }

    @Test("Sensitive attributes need an explicit opt-in, and even then are never named")
    func sensitiveOptIn() throws {
        #expect(throws: InputError.self) {
            try train(Self.table()) { $0.customerColumns.features = ["BALANCE", "Gender"] }
        }
        let model = try train(Self.table()) {
            $0.customerColumns.features = ["BALANCE", "PURCHASES", "Gender"]
            $0.customerColumns.allowSensitive = ["Gender"]
        }
        #expect(model.pipeline.features.contains("Gender=M"))
        #expect(
            model.segments.allSatisfy {
                !($0.name + $0.description + $0.actions.joined()).contains("Gender")
            })
        // The user's own list extends the built-in one.
        let extended = try train(Self.table()) { $0.customerColumns.sensitive = ["online"] }
        #expect(!extended.pipeline.features.contains("online=Yes"))
        #expect(extended.dataReport.sensitiveColumns == ["online", "Gender", "Marital_Status"])
    }

    @Test(
        "A repeating id is refused with a hint; so is a transactions file with one row per customer"
    )
    func wrongKind() throws {
        let transactions = SampleDataGenerator(customers: 60, seed: 1).generate().csv
        #expect {
            try train(transactions)
        } throws: { error in
            String(describing: error).contains("upload it as kind transactions")
        }
        var onePerCustomer = ["InvoiceNo,InvoiceDate,CustomerID,Quantity,UnitPrice"]
        for i in 0..<40 {
            onePerCustomer.append("\(1000 + i),2011-01-\(10 + i % 9) 10:00:00,\(500 + i),2,3.5")
        }
        var configuration = TrainingConfiguration()
        configuration.ks = [3]
        #expect {
            try SegmentationTrainer(configuration: configuration).train([
                .bytes(name: "t.csv", data: Data(onePerCustomer.joined(separator: "\n").utf8))
            ])
        } throws: { error in
            String(describing: error).contains("upload it as kind customers")
        }
    }

    @Test("Row filters drop what they name, counted per rule; unused columns are listed")
    func filters() throws {
        var csv = ["InvoiceNo,InvoiceDate,CustomerID,Quantity,UnitPrice,Order Status,Country,Note"]
        for i in 0..<300 {
            let status = i % 3 == 0 ? "Cancelled" : "Complete"
            csv.append(
                "\(5000 + i / 2),2011-02-\(10 + i % 15) 09:00,\(100 + i % 40),\(1 + i % 4),2.5,\(status),\(i % 5 == 0 ? "France" : "UK"),x"
            )
        }
        var loader = TransactionLoader(filters: [
            RowFilter(mode: .exclude, column: "Order Status", value: "cancelled"),
            try RowFilter(parsing: "Country=UK", mode: .include),
        ])
        try loader.add(bytes: Array(csv.joined(separator: "\n").utf8), source: "shop.csv")
        let (_, report) = try loader.finish()
        let include = try #require(report.steps.first { $0.rule == "include Country=UK" })
        let exclude = try #require(
            report.steps.first { $0.rule == "exclude Order Status=cancelled" })
        #expect(include.removed == 60)  // every fifth row is French
        #expect(exclude.removed == 80)  // the UK rows among every third
        #expect(report.rowsOut == 160)
        #expect(report.steps.last!.remaining == report.rowsOut)
        #expect(report.unusedColumns == ["Note"])
        #expect(throws: InputError.self) {
            var bad = TransactionLoader(filters: [
                RowFilter(mode: .exclude, column: "Status", value: "x")
            ])
            try bad.add(bytes: Array(csv.joined(separator: "\n").utf8), source: "shop.csv")
        }
        #expect(throws: InputError.self) { try RowFilter(parsing: "no-equals", mode: .exclude) }
    }

    @Test("Every scored customer is explained, and far-away customers are flagged")
    func explanations() throws {
        let model = try train(Self.table())
        let assignments = try model.score(
            customerTable: CustomerTableLoader.read(
                bytes: Array(Self.table(rows: 30, seed: 9).utf8), source: "new"))
        for assignment in assignments {
            #expect(assignment.contributions.count == model.pipeline.features.count)
            #expect(abs(assignment.contributions.reduce(0, +) - 1) < 1e-9)
            #expect(
                !assignment.outlier
                    || assignment.distance > model.segments[assignment.segmentID].distances!.p99)
        }
        let far = try model.score(
            customerID: "far",
            features: ["BALANCE": 1e7, "PURCHASES": 1e7, "CASH_ADVANCE": 1e7, "online=Yes": 1])
        #expect(far.outlier)
    }
}
