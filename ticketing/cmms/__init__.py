"""Maintenance work beyond the alarm (CMMS): asset register, meters, preventive plans, job
plans, spare parts, labour and downtime. Each part is its own module over the shared
database; every change goes through ``Store.run`` so it lands in the audit chain."""
