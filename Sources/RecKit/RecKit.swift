// The umbrella module: `import RecKit` brings in every library module.
@_exported import RecCore
@_exported import RecIO
@_exported import RecNN
@_exported import RecOPE
@_exported import RecRL
@_exported import RecReports
