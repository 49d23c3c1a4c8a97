/// Lists that page (AIP-158): the CLI shows whole lists, so it follows next_page_token to the end,
/// 1,000 items a page (the server's most).
enum Pages {
    static let size: Int32 = 1000

    /// Every page's items, in order. `fetch` gets a page token ("" first) and returns the page's
    /// items and the next token ("" on the last page).
    static func all<Item>(
        _ fetch: (String) async throws -> (items: [Item], next: String)
    ) async throws -> [Item] {
        var items: [Item] = []
        var token = ""
        repeat {
            let page = try await fetch(token)
            items += page.items
            token = page.next
        } while !token.isEmpty
        return items
    }
}
