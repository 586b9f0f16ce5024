import Foundation

/// Where the extension keeps its files: the app group container shared with the containing
/// app, so the app can query the database and install a compiled intel index.
///
/// File protection is `completeUntilFirstUserAuthentication`: the tunnel runs while the
/// device is locked, and with `.complete` the database would be unreadable then (SQLite
/// fails with an I/O error and telemetry stops until unlock).
public struct SharedContainer {
    public let root: URL

    public enum ContainerError: Error, Equatable {
        /// The app group is not in the target's entitlements, or is spelled differently.
        case noAppGroup(String)
    }

    public init(appGroup: String, fileManager: FileManager = .default) throws {
        guard let url = fileManager.containerURL(forSecurityApplicationGroupIdentifier: appGroup) else {
            throw ContainerError.noAppGroup(appGroup)
        }
        try self.init(root: url.appendingPathComponent("Nightjar", isDirectory: true), fileManager: fileManager)
    }

    /// A container at an explicit directory (unit tests, the simulator host).
    public init(root: URL, fileManager: FileManager = .default) throws {
        self.root = root
        var attributes: [FileAttributeKey: Any] = [:]
        #if os(iOS)
        attributes[.protectionKey] = FileProtectionType.completeUntilFirstUserAuthentication
        #endif
        try fileManager.createDirectory(at: root, withIntermediateDirectories: true, attributes: attributes)
        // Telemetry stays on the device: keep it out of iCloud and iTunes backups.
        var url = root
        var values = URLResourceValues()
        values.isExcludedFromBackup = true
        try? url.setResourceValues(values)
    }

    public var database: URL { root.appendingPathComponent("nightjar.db") }
    public var intelIndex: URL { root.appendingPathComponent("intel.nji") }
    public var appIds: URL { root.appendingPathComponent("app-ids.json") }

    /// The index path for `EngineSettings`, if the app has installed one.
    public func intelIndexIfPresent(fileManager: FileManager = .default) -> String? {
        fileManager.fileExists(atPath: intelIndex.path) ? intelIndex.path : nil
    }

    /// The per-app ids assigned so far ([`PerAppResolver.snapshot`]).
    public func loadAppIds() -> [String: UInt32] {
        guard let data = try? Data(contentsOf: appIds),
              let map = try? JSONDecoder().decode([String: UInt32].self, from: data) else { return [:] }
        return map
    }

    public func saveAppIds(_ ids: [String: UInt32]) throws {
        try JSONEncoder().encode(ids).write(to: appIds, options: .atomic)
    }
}
