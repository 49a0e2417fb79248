"""The terminal face: screens and widgets over core.

Every database call runs in a thread worker (`tui.work.call_core`) and comes
back as a message; every rule is core's, and its errors become notifications.
"""
