"""Generates the gRPC stubs from the repository's Protos/ into the built package, so a checkout
holds only the .proto files. The protos are found at ../../Protos, or at $SEGMENT_PROTOS."""
import os
import pathlib

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithStubs(build_py):
    def run(self):
        super().run()
        from grpc_tools import protoc
        import grpc_tools

        here = pathlib.Path(__file__).resolve().parent
        protos = pathlib.Path(os.environ.get("SEGMENT_PROTOS", here / ".." / ".." / "Protos")).resolve()
        sources = sorted(str(p.relative_to(protos)) for p in (protos / "segmentation").rglob("*.proto"))
        if not sources:
            raise SystemExit(f"no .proto files under {protos}/segmentation: set SEGMENT_PROTOS")
        out = pathlib.Path(self.build_lib) / "segment_client" / "_generated"
        out.mkdir(parents=True, exist_ok=True)
        include = pathlib.Path(grpc_tools.__file__).parent / "_proto"
        status = protoc.main(["grpc_tools.protoc", f"-I{protos}", f"-I{include}", f"--python_out={out}",
                              f"--grpc_python_out={out}", *sources])
        if status != 0:
            raise SystemExit(f"protoc failed ({status})")
        # Packages for the generated tree (segmentation/v1/...).
        for folder in [out, *[p for p in out.rglob("*") if p.is_dir()]]:
            (folder / "__init__.py").touch()


setup(cmdclass={"build_py": BuildWithStubs})
