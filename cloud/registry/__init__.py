"""The registry: the cloud's durable records in one SQLite database.

Today it holds recording sessions (who wore which device where, doing what, when); the
device registry joins them in the same file later, as one more migration in `db.py`.
"""
