"""Packages of the wheel: everything under provision/, plus the top-level iso_templates/ folder
mapped into the package as provision/iso_templates (the boot menus `provision iso` renders).
The rest of the configuration is in pyproject.toml."""

from setuptools import find_namespace_packages, setup

setup(
    packages=[
        *find_namespace_packages(include=["provision", "provision.*"], exclude=["*.__pycache__"]),
        "provision.iso_templates",
    ],
    package_dir={"provision.iso_templates": "iso_templates"},
)
