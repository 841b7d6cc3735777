// Router module.
