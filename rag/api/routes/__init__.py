"""One ``APIRouter`` per resource: questions, the OpenAI-compatible surface, knowledge bases and jobs, admin."""
