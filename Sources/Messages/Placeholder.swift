// Messages module.
