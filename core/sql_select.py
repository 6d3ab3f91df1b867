"""Model instances from a hand-written SELECT.

For the few statements that run on every event and cost more to build through the ORM
than to run (about 1 ms of Python per query on this project's machines, against 0.1 ms
for the statement itself): the SQL is written once, and its rows become instances the
way the ORM makes them, with the same database converters (SQLite's dates, JSON).
"""


class ModelColumns:
    """One model's columns in a hand-written SELECT (under a table alias), and the
    instance made from their values in a row."""

    def __init__(self, model, alias: str):
        self.model, self.alias = model, alias
        self.fields = list(model._meta.concrete_fields)
        self.attnames = [field.attname for field in self.fields]
        self.pk_index = self.fields.index(model._meta.pk)
        self._converters: dict[str, list] = {}

    def __len__(self) -> int:
        return len(self.fields)

    def sql(self, connection) -> str:
        quote = connection.ops.quote_name
        return ", ".join(f"{self.alias}.{quote(field.column)}" for field in self.fields)

    def instance(self, values, connection):
        """The instance from this model's slice of a row; None for a LEFT JOIN's miss."""
        if values[self.pk_index] is None:
            return None
        converted = list(values)
        for index, converters in self._field_converters(connection):
            value = converted[index]
            for convert, expression in converters:
                value = convert(value, expression, connection)
            converted[index] = value
        return self.model.from_db(connection.alias, self.attnames, converted)

    def _field_converters(self, connection):
        found = self._converters.get(connection.alias)
        if found is None:
            found = []
            for index, field in enumerate(self.fields):
                column = field.get_col(self.alias)
                converters = [
                    (convert, column)
                    for convert in connection.ops.get_db_converters(column)
                    + field.get_db_converters(connection)
                ]
                if converters:
                    found.append((index, converters))
            self._converters[connection.alias] = found
        return found
