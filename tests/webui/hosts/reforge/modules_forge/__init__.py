"""`modules_forge` of reforge: the package exists (the old Forge backend), but has no
`main_entry`: its model API is A1111's. Extensions must not take its presence for Forge main."""
