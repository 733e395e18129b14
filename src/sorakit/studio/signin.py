"""Sign-in with a tenant API key, and sign-out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response

from sorakit.errors import AuthenticationError, SorakitError
from sorakit.studio.render import StudioDep
from sorakit.studio.session import CSRF_FIELD, Session, cookies_of, principal_for

router = APIRouter()


@router.get("/sign-in")
async def sign_in_page(studio: StudioDep) -> Response:
    """The sign-in form (open studios go straight to Create)."""
    if studio.signed_in and await studio.gatekeeper.is_open():
        return RedirectResponse("/", status_code=303)
    return studio.render("sign_in.html", error=None)


@router.post("/sign-in")
async def sign_in(
    studio: StudioDep,
    api_key: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = "",
) -> Response:
    """Check the key as the API would, then keep it in a signed cookie."""
    cookies = cookies_of(studio.request)
    try:
        cookies.check_csrf(studio.session, csrf_token)
        session = Session.new(api_key.strip() or None)  # a new nonce: no fixation
        if session.api_key is None or await principal_for(studio.request, session) is None:
            raise AuthenticationError("That API key was not accepted; check it and try again.")
    except SorakitError as exc:
        status = 401 if isinstance(exc, AuthenticationError) else 403
        return studio.render("sign_in.html", status, error=exc.message)
    response = RedirectResponse("/", status_code=303)
    cookies.set(studio.request, response, session)
    return response


@router.post("/sign-out")
async def sign_out(
    studio: StudioDep, csrf_token: Annotated[str, Form(alias=CSRF_FIELD)] = ""
) -> Response:
    """Forget the key: the cookie is all there is to forget."""
    try:
        studio.check_form(csrf_token)
    except SorakitError as exc:
        return studio.error(exc)
    response = RedirectResponse("/sign-in", status_code=303)
    cookies_of(studio.request).clear(response)
    return response
