"""The run store: record types, the contract every store plugin implements, the home's layout,
opening the configured store, downsampling, atomic files and liveness."""
