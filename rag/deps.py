"""FastAPI dependencies: the components built in the app's lifespan."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from rag.components import Components
from rag.orchestrator import Orchestrator
from rag.settings import RagSettings


def get_components(request: Request) -> Components:
    components: Components = request.app.state.components
    return components


def get_orchestrator(components: Annotated[Components, Depends(get_components)]) -> Orchestrator:
    return components.orchestrator


def get_app_settings(components: Annotated[Components, Depends(get_components)]) -> RagSettings:
    return components.settings


ComponentsDep = Annotated[Components, Depends(get_components)]
OrchestratorDep = Annotated[Orchestrator, Depends(get_orchestrator)]
SettingsDep = Annotated[RagSettings, Depends(get_app_settings)]
